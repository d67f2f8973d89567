"""The dashboard's pages and their names in the navigation: the main comparison, several systems, saved
runs. Pages switch to each other through `page(name)`."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[2]
TITLES = {"compare": "Compare two renderings", "systems": "Several systems", "history": "Saved runs"}


def _pages() -> dict:
    from comparator.dashboard import compare_page

    return {
        "compare": st.Page(compare_page.render, title=TITLES["compare"], url_path="compare",
                           default=True),
        "systems": st.Page(ROOT / "pages" / "1_Several_systems.py", title=TITLES["systems"]),
        "history": st.Page(ROOT / "pages" / "2_Saved_runs.py", title=TITLES["history"]),
    }


def page(name: str):
    """The page called `name` (a key of TITLES), to give to st.switch_page."""
    return _pages()[name]


def run() -> None:
    st.navigation(list(_pages().values())).run()
