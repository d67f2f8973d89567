"""What the dashboard tests share: the app's path, starting and running it through AppTest, and the check
that user text did not become live markup."""
from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")


def app_test(model: str | None = "hash", timeout: float = 120) -> AppTest:
    """The main page, with the model chosen (None: the default model)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    if model:
        at.session_state["model"] = model
    return at


def run(at: AppTest, timeout: float = 120) -> AppTest:
    """One script run that must not raise."""
    at.run(timeout=timeout)
    assert not at.exception, [e.value for e in at.exception]
    return at


def raw_tag(text: str, tag: str) -> bool:
    """`<tag` as markup: neither HTML-escaped (&lt;) nor backslash-escaped for markdown (\\<)."""
    return re.search(rf"(?<!\\)<\s*{tag}\b", text, re.IGNORECASE) is not None
