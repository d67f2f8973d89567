"""What a page shows when something fails that it did not expect: one line, the traceback in the log."""
from __future__ import annotations

import logging

from comparator.core.errors import first_line

log = logging.getLogger("comparator.app")


def show_failure(st, exc: BaseException) -> None:
    log.error("dashboard failure", exc_info=exc)
    first = first_line(exc, limit=200)
    st.error(f"Something went wrong ({type(exc).__name__}){': ' + first if first else ''}")
