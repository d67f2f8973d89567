"""What every dashboard page shares: one sentence model per server, whichever page loads it first, and the
decoded uploads. Streamlit keys a cached function by where it is defined, so the same function written in
each page script would load a copy of the model per page; defined once here, all pages share it."""
from __future__ import annotations

import streamlit as st

from comparator.core.embed import encoder
from comparator.core.documents import Document, decode


@st.cache_resource(show_spinner="Loading the sentence model (once per server)…")
def load_encoder(model: str):
    return encoder.get_encoder(model)


@st.cache_data(show_spinner=False, max_entries=64)
def read_upload(data: bytes, name: str) -> Document:
    return decode(data, name)
