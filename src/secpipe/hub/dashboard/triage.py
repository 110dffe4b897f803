"""The dashboard's writes: sign in, sign out, and triage through BatchUpdateFindings.

Triage is exactly what Security Hub's console does: a BatchUpdateFindings call with the
signed-in user as `Note.UpdatedBy`. Suppression carries its reason in the Note and, when the
user gives one, its expiry date in UserDefinedFields (`secpipe/SuppressedUntil`), where
Security Hub keeps customer data that imports cannot overwrite; every list and detail page
shows it, and flags it once the date has passed.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Mapping

from starlette.responses import Response

from secpipe.hub import authz
from secpipe.hub.dashboard import security as sec
from secpipe.hub.dashboard.app import Page
from secpipe.hub.dashboard.formkeys import finding_key, identifiers

EXPIRY_KEY = "secpipe/SuppressedUntil"
REASON_KEY = "secpipe/SuppressReason"
MAX_NOTE = 500             # Note.Text allows 512; leave room for the action prefix
MAX_SELECTED = 100         # BatchUpdateFindings' own limit


def today() -> date:
    return datetime.now(timezone.utc).date()


def expired(until: str | None) -> bool:
    if not until:
        return False
    try:
        return date.fromisoformat(until[:10]) < today()
    except ValueError:
        return False


# --- sign in / out ----------------------------------------------------------------------------
async def login_form(page: Page) -> Response:
    if page.session.user:
        return page.redirect(sec.safe_next(page.request.query_params.get("next"), page.base))
    return sign_in_page(page, next=page.request.query_params.get("next", ""))


def sign_in_page(page: Page, status: int = 200, *, next: str, error: str = "",
                 username: str = "") -> Response:
    """The sign-in page with a fresh signed CSRF token (and its nonce cookie): nothing is
    stored server-side, so no number of page views can push out a pending sign-in."""
    token, nonce = page.dash.login_csrf(page.request)
    resp = page.render("login.html", status=status, page_title="Sign in", error=error,
                       username=username, next=next, csrf=token)
    page.dash.set_login_cookie(resp, page.request, nonce)
    return resp


async def login(page: Page) -> Response:
    """Reserve a throttled attempt first, then verify: parallel guesses cannot pass the cap."""
    dash, request = page.dash, page.request
    client = request.client.host if request.client else "unknown"
    target = sec.safe_next(page.field("next"), page.base)
    token, user, password = page.field("token"), page.field("username").strip(), \
        page.field("password")
    account = "token" if token else f"user:{user[:128]}"
    attempt = dash.throttle.reserve(account, client)
    if attempt is None:
        return sign_in_page(page, 429, next=page.field("next"),
                            error="Too many failed sign-ins for this account or from this "
                                  "address; wait a few minutes.")
    generation = 0
    if token:
        ok, who, kind = await page.run(dash.check_token, token), "token", "token"
        authn = getattr(request.app.state, "authenticator", None)
        role = getattr(authn, "token_role", None) or dash.token_role()
    else:
        ok, who, kind = await page.run(dash.check_password, user, password), user, "user"
        info = await page.run(dash.store.user_session, user) if ok else None
        role, generation = info if info else ("none", 0)
    principal = authz.Principal(kind, account, role=role, source=client)
    if not ok:       # the reserved attempt stays counted as a failure
        await page.run(dash.store.audit, "login-failed", [account], principal=principal)
        return sign_in_page(page, 401, next=page.field("next"), username=user[:128],
                            error="Wrong user name, password or token.")
    dash.throttle.succeeded(attempt)
    if not principal.can(authz.DASHBOARD_LOGIN):
        await page.run(dash.store.audit, "login-denied", [account], principal=principal)
        return sign_in_page(page, 403, next=page.field("next"),
                            error=f"The {role} role cannot sign in to the dashboard (it needs "
                                  f"the {authz.DASHBOARD_LOGIN} permission).")
    await page.run(dash.store.audit, "login", [account], principal=principal)
    fresh = dash.sessions.login(page.session, who, role=role, kind=kind, generation=generation)
    resp = page.redirect(target)
    dash.set_cookie(resp, request, fresh)
    return resp


async def logout(page: Page) -> Response:
    page.dash.sessions.drop(page.session.sid)
    resp = page.redirect(f"{page.base}/login")
    sec.clear_session_cookie(resp, page.request, path=page.base or "/",
                             force_secure=page.dash.secure_cookies)
    return resp


# --- triage -----------------------------------------------------------------------------------
class TriageError(ValueError):
    pass


def changes_for(action: str, reason: str, expires: str, user: str) -> dict[str, Any]:
    """The BatchUpdateFindings changes of one dashboard action (TriageError if incomplete)."""
    reason = reason.strip()
    if len(reason) > MAX_NOTE:
        raise TriageError(f"the reason or note is limited to {MAX_NOTE} characters")
    note = {"UpdatedBy": user[:512] or "dashboard"}
    if action == "suppress":
        if not reason:
            raise TriageError("say why the finding is suppressed (a reason is required)")
        fields = {REASON_KEY: reason, EXPIRY_KEY: ""}
        if expires:
            try:
                until = date.fromisoformat(expires)
            except ValueError:
                raise TriageError("the expiry must be a date (YYYY-MM-DD)") from None
            if until < today():
                raise TriageError("the expiry date is in the past")
            fields[EXPIRY_KEY] = until.isoformat()
        text = f"Suppressed: {reason}" + (f" (until {fields[EXPIRY_KEY]})" if expires else "")
        return {"Workflow": {"Status": "SUPPRESSED"}, "Note": {**note, "Text": text},
                "UserDefinedFields": fields}
    if action == "resolve":
        out: dict[str, Any] = {"Workflow": {"Status": "RESOLVED"}}
        out["Note"] = {**note, "Text": f"Resolved: {reason}" if reason else "Resolved"}
        return out
    if action == "reopen":
        return {"Workflow": {"Status": "NEW"},
                "Note": {**note, "Text": f"Reopened: {reason}" if reason else "Reopened"},
                "UserDefinedFields": {EXPIRY_KEY: "", REASON_KEY: ""}}
    if action == "note":
        if not reason:
            raise TriageError("the note is empty")
        return {"Note": {**note, "Text": reason}}
    raise TriageError(f"unknown action {action[:40]!r}")


PAST = {"suppress": "suppressed", "resolve": "resolved", "reopen": "reopened",
        "note": "noted"}


async def triage(page: Page) -> Response:
    back = sec.safe_next(page.field("back"), page.base)
    action = page.field("action")
    idents = identifiers(page.form.get("finding", []))
    try:
        if not idents:
            raise TriageError("select at least one finding")
        if len(idents) > MAX_SELECTED:
            raise TriageError(f"select at most {MAX_SELECTED} findings at once")
        changes = changes_for(action, page.field("reason"), page.field("expires").strip(),
                              page.user)
    except TriageError as err:
        page.flash("error", f"Nothing changed: {err}.")
        return page.redirect(back)
    result = await page.run(page.store.batch_update, idents, changes,
                            updated_by=f"dashboard:{page.user}", principal=page.principal)
    done, failed = len(result.processed), len(result.unprocessed)
    if done:
        page.flash("ok", f"{done} finding{'s' if done != 1 else ''} {PAST[action]}.")
    if failed:
        why = "; ".join(sorted({str(u.get("ErrorMessage", u.get("ErrorCode", "")))
                                for u in result.unprocessed}))[:300]
        page.flash("error", f"{failed} finding{'s' if failed != 1 else ''} not changed: {why}")
    return page.redirect(back)
