"""What every page shares: the hub (opened once per process) and cached, factory-keyed reads."""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics.store.hub import Hub
from analytics.store.overview import factory_overview, ingest_history
from analytics.store.reader import FactoryReader


@st.cache_resource
def hub() -> Hub:
    return Hub.open()


@st.cache_data(ttl=60)
def overview() -> pl.DataFrame:
    return factory_overview(hub())


@st.cache_data(ttl=60)
def quality(factory_id: str) -> pl.DataFrame:
    return FactoryReader(hub(), factory_id).quality().collect()


@st.cache_data(ttl=60)
def quarantine(factory_id: str, limit: int = 1000) -> pl.DataFrame:
    return FactoryReader(hub(), factory_id).quarantine().sort("quarantined_at", descending=True).head(limit).collect()


@st.cache_data(ttl=60)
def history(factory_id: str) -> pl.DataFrame:
    return ingest_history(hub(), factory_id)


def choose_factory() -> str | None:
    """The factory the page shows (sign-in and per-user tenancy come with the dashboard issue)."""
    factories = overview()
    if factories.height == 0:
        st.info("No factories registered yet. Run `make demo` or `factoryhub factory add`.")
        return None
    labels = {r["factory_id"]: f"{r['name_ko']} / {r['name_en']} ({r['factory_id']})" for r in factories.iter_rows(named=True)}
    return st.sidebar.selectbox("Factory / 공장", list(labels), format_func=labels.__getitem__)
