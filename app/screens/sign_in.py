"""Sign in: username and password (argon2-hashed in the registry), or OpenID Connect when set up."""

import streamlit as st

from analytics.i18n import LANGUAGE_NAMES, LANGUAGES, t
from analytics.store.users import UserBook
from app.common import hub, oidc_configured, sign_in

language = st.segmented_control("Language / 언어", LANGUAGES, default=LANGUAGES[0], format_func=LANGUAGE_NAMES.__getitem__, key="sign_in_language")
language = language or LANGUAGES[0]

st.title(t("sign_in.title", language))
st.caption(t("sign_in.caption", language))

# An identity-provider sign-in maps the provider's e-mail to a registered hub user; an e-mail the
# hub does not know gets no access at all.
if oidc_configured():
    if getattr(st.user, "is_logged_in", False):
        # Only an address the provider has verified may stand for a hub user.
        verified = st.user.get("email_verified") is True
        known = UserBook(hub()).by_email(str(st.user.get("email", ""))) if verified else None
        if known is not None and not known.disabled:
            sign_in(known)
            st.rerun()
        st.error(t("sign_in.oidc_unknown", language))
        st.button(t("nav.sign_out", language), on_click=st.logout)
    else:
        st.button(t("sign_in.oidc", language), icon=":material/key:", on_click=st.login)
    st.divider()

with st.form("sign_in", border=True):
    username = st.text_input(t("sign_in.username", language), key="username_input")
    password = st.text_input(t("sign_in.password", language), type="password", key="password_input")
    submitted = st.form_submit_button(t("sign_in.submit", language), type="primary")

if submitted:
    user = UserBook(hub()).authenticate(username.strip(), password)
    if user is None:
        # One message for every failure: it never says whether the name exists.
        st.error(t("sign_in.failed", language))
    else:
        sign_in(user)
        st.rerun()
