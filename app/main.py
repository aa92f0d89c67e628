"""Factory Data Hub dashboard: the router. Pages hold layout only; data comes from `analytics`."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script: make `app.*` importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

st.set_page_config(page_title="Factory Data Hub", page_icon=":material/factory:", layout="wide")

pages = [
    st.Page("pages/overview.py", title="Factories / 공장", icon=":material/factory:", default=True),
    st.Page("pages/data.py", title="Data health / 데이터 상태", icon=":material/monitor_heart:"),
]
st.navigation(pages).run()
