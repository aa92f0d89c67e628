"""Factory Data Hub dashboard: the router. Pages hold layout only; data comes from `analytics`.

Nobody sees a page before signing in. The pages live in ``screens/``, not ``pages/``: Streamlit
serves every script of a ``pages/`` folder beside the main script by its own URL (its first
multipage API), which would run a page without this router and so without sign-in. A signed-in user gets the pages of their role; the hub-admin
page exists only in an admin's navigation, so its URL is unknown to everyone else's router.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script: make `app.*` importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.i18n import LANGUAGE_NAMES, LANGUAGES
from analytics.store.users import UserBook
from app.common import SESSION_FACTORY, SESSION_LANGUAGE, current_session, hub, sign_out, signed_in_user

st.set_page_config(page_title="Factory Data Hub · 공장 데이터 허브", page_icon=":material/factory:", layout="wide")

user = signed_in_user()
if user is None:
    st.navigation([st.Page("screens/sign_in.py", title="Sign in / 로그인", icon=":material/login:", url_path="sign-in")], position="hidden").run()
    st.stop()

session = current_session(user)
st.session_state["_session"] = session
t = session.t

with st.sidebar:
    st.markdown(f"**{user.display_name or user.username}** · {t('role.' + user.role)}")
    if user.is_admin:
        factories = UserBook(hub()).visible_factories(user)
        if factories:
            names = {f.factory_id: f for f in hub().registry.factories()}
            label = (lambda f: names[f].name_ko or f) if session.language == "ko" else (lambda f: names[f].name_en or f)
            chosen = st.selectbox(t("nav.factory"), factories, index=factories.index(session.factory_id), format_func=label, key="factory_choice")
            if chosen != session.factory_id:
                # The URL carries an admin's factory (so a link opens the same view); it must follow
                # the choice, or the old ?factory= would win on the rerun and undo it.
                st.session_state[SESSION_FACTORY] = chosen
                st.query_params["factory"] = chosen
                st.rerun()
    language = st.segmented_control(
        t("nav.language"), LANGUAGES, default=session.language, format_func=LANGUAGE_NAMES.__getitem__, key="language_choice"
    )
    if language and language != session.language:
        st.session_state[SESSION_LANGUAGE] = language
        st.rerun()
    if st.button(t("nav.sign_out"), icon=":material/logout:", key="sign_out"):
        sign_out()
        st.rerun()

pages = [
    st.Page("screens/overview.py", title=t("nav.overview"), icon=":material/dashboard:", default=True, url_path="overview"),
    st.Page("screens/machine.py", title=t("nav.machine"), icon=":material/precision_manufacturing:", url_path="machine"),
    st.Page("screens/alerts.py", title=t("nav.alerts"), icon=":material/notifications:", url_path="alerts"),
    st.Page("screens/plan.py", title=t("nav.plan"), icon=":material/build:", url_path="plan"),
    st.Page("screens/data.py", title=t("nav.data"), icon=":material/monitor_heart:", url_path="data"),
    st.Page("screens/models.py", title=t("nav.models"), icon=":material/model_training:", url_path="models"),
]
if user.is_admin:
    pages.append(st.Page("screens/admin.py", title=t("nav.admin"), icon=":material/admin_panel_settings:", url_path="admin"))
st.navigation(pages).run()
