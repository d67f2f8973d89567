"""What a page shows when something fails that it did not expect: one line, the traceback in the log."""
from __future__ import annotations

import logging
import re

from comparator.core.errors import first_line

log = logging.getLogger("comparator.app")


def inert(text: str) -> str:
    """A message for st.error that may quote the user's text (a file name, a value from a saved result):
    angle brackets backslash-escaped, so that a quoted tag stays text in Streamlit's markdown."""
    return re.sub(r"([<>])", r"\\\1", text)


def show_input_error(st, exc: BaseException, default: str = "bad input", limit: int = 600) -> None:
    """An InputError as the one line it is."""
    st.error(inert(first_line(exc, default, limit=limit)))


def show_failure(st, exc: BaseException) -> None:
    log.error("dashboard failure", exc_info=exc)
    first = inert(first_line(exc, limit=200))
    st.error(f"Something went wrong ({type(exc).__name__}){': ' + first if first else ''}")
