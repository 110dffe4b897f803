"""The dashboard under roles: who may sign in, who may triage, the admins' audit page, and
sessions that end when the user's password or role changes or the user is deleted."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.hub.dashboard_seed import TOKEN, seeded_server
from tests.hub.test_dashboard_http import csrf_of, finding_doc, key

PASSWORDS = {"ada": "ada's long password", "rex": "rex's long password",
             "tom": "tom's long password"}


def login(url: str, **form: str) -> tuple[httpx.Client, httpx.Response]:
    c = httpx.Client(base_url=url, follow_redirects=False, timeout=10)
    token = csrf_of(c.get("/ui/login").text)
    return c, c.post("/ui/login", data={"csrf": token, **form})


def as_user(url: str, name: str) -> tuple[httpx.Client, str]:
    c, r = login(url, username=name, password=PASSWORDS[name])
    assert r.status_code == 303, r.text
    return c, csrf_of(c.get("/ui/").text)


def users(store) -> None:
    store.set_user_password("ada", PASSWORDS["ada"], role="admin")
    store.set_user_password("rex", PASSWORDS["rex"], role="read")
    store.set_user_password("tom", PASSWORDS["tom"], role="triage")


def test_the_runtime_token_cannot_sign_in(tmp_path: Path) -> None:
    with seeded_server(tmp_path, token_role="runtime") as (url, store):
        c, r = login(url, token=TOKEN)
        assert r.status_code == 403 and "runtime role cannot sign in" in r.text
        assert c.get("/ui/").status_code == 303                  # still signed out
        assert store.audit_log(action="login-denied")[0]["principal"] == "token"


def test_read_users_cannot_triage_and_only_admins_see_the_audit(tmp_path: Path) -> None:
    with seeded_server(tmp_path) as (url, store):
        users(store)
        doc = finding_doc(store, "S3 bucket allows public read")
        form = {"finding": key(doc), "action": "suppress", "reason": "no", "back": "/ui/"}
        rex, csrf = as_user(url, "rex")
        assert rex.get("/ui/findings").status_code == 200
        r = rex.post("/ui/triage", data={"csrf": csrf, **form})
        assert r.status_code == 403 and "findings:update" in r.text
        assert finding_doc(store, doc["Title"])["Workflow"]["Status"] == "NEW"
        assert rex.get("/ui/audit").status_code == 403 and ">Audit<" not in rex.get("/ui/").text

        tom, csrf = as_user(url, "tom")
        r = tom.post("/ui/triage", data={"csrf": csrf, **form}, follow_redirects=True)
        assert "1 finding suppressed." in r.text
        assert tom.get("/ui/audit").status_code == 403

        ada, _ = as_user(url, "ada")
        page = ada.get("/ui/audit")
        assert page.status_code == 200 and "user:tom" in page.text
        assert "BatchUpdateFindings" in page.text and ">Audit<" in ada.get("/ui/").text
        filtered = ada.get("/ui/audit", params={"principal": "user:rex"}).text
        assert "user:rex" in filtered and "user:tom" not in filtered
        update = store.audit_log(action="BatchUpdateFindings")[0]
        assert update["principal"] == "user:tom" and update["targets"] == [doc["Id"]]
        logins = store.audit_log(action="login")
        assert {r["principal"] for r in logins} >= {"user:rex", "user:tom", "user:ada"}
        assert store.finding_history(doc["Id"])[-1]["actor"] == "user:tom"


def test_sessions_end_on_password_change_role_change_and_deletion(store_url: str) -> None:
    with seeded_server(store_url) as (url, store):
        users(store)
        tom, _ = as_user(url, "tom")
        assert tom.get("/ui/").status_code == 200
        store.set_user_password("tom", "a brand new password")
        assert tom.get("/ui/").status_code == 303, "a password change ends the session"
        PASSWORDS["tom"] = "a brand new password"

        tom, _ = as_user(url, "tom")
        store.set_user_role("tom", "read")
        r = tom.get("/ui/")
        assert r.status_code == 303 and "/login" in r.headers["location"]
        tom, csrf = as_user(url, "tom")                 # signed in again: now read-only
        doc = finding_doc(store, "S3 bucket allows public read")
        r = tom.post("/ui/triage", data={"csrf": csrf, "finding": key(doc), "action": "note",
                                         "reason": "x", "back": "/ui/"})
        assert r.status_code == 403

        store.delete_user("tom")
        assert tom.get("/ui/").status_code == 303
        _, r = login(url, username="tom", password=PASSWORDS["tom"])
        assert r.status_code == 401
        PASSWORDS["tom"] = "tom's long password"
        assert [r["action"] for r in store.audit_log(principal="local:" + _me())][:3] == [
            "DeleteUser", "SetUserRole", "SetUserPassword"]


def _me() -> str:
    import getpass
    return getpass.getuser()
