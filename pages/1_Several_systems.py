"""Dashboard page: several systems against one reference, ranked with significance (a thin UI over
comparator.analysis.systems; the page itself is comparator.dashboard.systems)."""
from __future__ import annotations

import logging
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

import streamlit as st  # noqa: E402

from comparator.dashboard.errors import show_failure  # noqa: E402
from comparator.dashboard import history as dashboard_history, systems as dashboard_systems  # noqa: E402
from comparator.core.documents import Document, decode  # noqa: E402
from comparator.dashboard.cache import load_encoder, read_upload  # noqa: E402
from comparator.analysis.systems import SystemsComparison, compare_systems  # noqa: E402
from comparator.core.settings import Settings  # noqa: E402

st.set_page_config(page_title="Several systems · Translation comparator", page_icon="🔎", layout="wide")
log = logging.getLogger("comparator.app")


@st.cache_data(show_spinner=False, max_entries=16)
def score_systems(ref: Document, docs: tuple, names: tuple, mode: str, model: str, n_samples: int):
    return compare_systems(ref, list(zip(names, docs)), Settings(mode=mode, model=model),
                           encoder=load_encoder(model), n_samples=n_samples)


@st.cache_data(show_spinner=False, max_entries=16)
def open_systems_json(data: bytes, name: str) -> SystemsComparison:
    return SystemsComparison.from_json(decode(data, name).text)


try:
    dashboard_systems.render(st, score_systems, read_upload, open_systems_json, dashboard_history.saver(st), ROOT)
except Exception as exc:  # a bug or an unforeseen input: one line for the user, the traceback in the log
    show_failure(st, exc)
