"""The dashboard: `streamlit run app.py`. A thin shim: the pages live in comparator/dashboard/, and this
names them in the navigation."""
import streamlit as st

from comparator.dashboard import navigation

st.set_page_config(page_title="Translation comparator", page_icon="🔎", layout="wide")
navigation.run()
