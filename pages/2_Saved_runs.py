"""Dashboard page: the run history — list saved runs, reopen one, compare two runs of the same texts
(a thin UI; the page itself is comparator.dashboard.history)."""
from __future__ import annotations

import logging
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

import streamlit as st  # noqa: E402

from comparator.dashboard.errors import show_failure  # noqa: E402
from comparator.dashboard import history as dashboard_history  # noqa: E402

st.set_page_config(page_title="Saved runs · Translation comparator", page_icon="🔎", layout="wide")
log = logging.getLogger("comparator.app")

try:
    dashboard_history.render(st)
except Exception as exc:  # a bug or an unforeseen input: one line for the user, the traceback in the log
    show_failure(st, exc)
