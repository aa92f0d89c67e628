"""All factories at a glance: machines, sensors, readings stored and data freshness."""

import streamlit as st

from app.common import overview

st.title("Factory Data Hub")
st.caption("공장 데이터 허브 · times in each factory's local time zone")
factories = overview()
if factories.height == 0:
    st.info("No factories registered yet. Run `make demo` or `factoryhub factory add`.")
else:
    cols = st.columns(3)
    cols[0].metric("Factories / 공장", factories.height)
    cols[1].metric("Machines / 설비", int(factories.get_column("machines").sum()))
    cols[2].metric("Readings / 측정값", f"{int(factories.get_column('readings').sum()):,}")
    st.dataframe(factories, width="stretch", hide_index=True)
