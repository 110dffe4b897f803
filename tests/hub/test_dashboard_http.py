"""The dashboard's guard over plain HTTP, against the real server and store: the login wall,
CSRF, the session cookie's flags, security headers, escaping, and the pages' data."""

from __future__ import annotations

import html
import re
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from secpipe.hub.dashboard.security import COOKIE
from secpipe.hub.dashboard.signin import LOGIN_COOKIE
from tests.hub.dashboard_seed import PASSWORD, SCRIPT_TITLE, TOKEN, USER, seeded_server

ARN = "arn:aws:securityhub:us-east-1:000000000000:product/000000000000/default"
PAGES = ["/ui/", "/ui/findings", "/ui/findings?severity=HIGH", "/ui/runs",
         "/ui/runs/run-20240603-0003abc", f"/ui/finding?id=x&arn={ARN}"]


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Iterator[tuple[str, object]]:
    with seeded_server(tmp_path_factory.mktemp("hub")) as served:
        yield served


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, follow_redirects=False, timeout=10)


def csrf_of(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def signed_in(url: str, **creds: str) -> tuple[httpx.Client, str]:
    """A client with a signed-in session, and that session's CSRF token."""
    c = client(url)
    token = csrf_of(c.get("/ui/login").text)
    form = creds or {"username": USER, "password": PASSWORD}
    r = c.post("/ui/login", data={"csrf": token, **form})
    assert r.status_code == 303, r.text
    return c, csrf_of(c.get("/ui/").text)


def finding_doc(store, title: str) -> dict:
    found, _ = store.get_findings({"Title": [{"Value": title, "Comparison": "EQUALS"}]})
    assert len(found) == 1
    return found[0]


def key(doc: dict) -> str:
    from secpipe.hub.dashboard.triage import finding_key
    return finding_key(doc)


# --- the login wall -------------------------------------------------------------------------
@pytest.mark.parametrize("path", PAGES)
def test_every_page_requires_login(hub, path: str) -> None:
    r = client(hub[0]).get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/ui/login?next=/ui/")
    assert "Overview" not in r.text and "finding" not in r.text.lower()


def test_no_write_without_login(hub) -> None:
    url, store = hub
    doc = finding_doc(store, "SQL built from user input")
    c = client(url)
    token = csrf_of(c.get("/ui/login").text)      # the sign-in form's own token
    r = c.post("/ui/triage", data={"csrf": token, "finding": key(doc), "action": "suppress",
                                   "reason": "x"})
    assert r.status_code == 403
    assert finding_doc(store, "SQL built from user input")["Workflow"]["Status"] == "NEW"


def test_wrong_password_and_wrong_token_are_refused(hub) -> None:
    c = client(hub[0])
    token = csrf_of(c.get("/ui/login").text)
    for form in ({"username": USER, "password": "wrong"}, {"username": "bob",
                                                          "password": PASSWORD},
                 {"token": "not-the-token"}):
        r = c.post("/ui/login", data={"csrf": token, **form})
        assert r.status_code == 401 and "Wrong user name, password or token" in r.text
    assert c.get("/ui/").status_code == 303


def test_token_login_and_logout(hub) -> None:
    c, token = signed_in(hub[0], token=TOKEN)
    assert c.get("/ui/").status_code == 200
    old = c.cookies.get(COOKIE)
    r = c.post("/ui/logout", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    stale = client(hub[0])
    stale.cookies.set(COOKIE, old)
    assert stale.get("/ui/").status_code == 303, "a logged-out session id is dead"


def test_session_id_changes_at_login(hub) -> None:
    c = client(hub[0])
    token = csrf_of(c.get("/ui/login").text)
    before = c.cookies.get(COOKIE)
    c.post("/ui/login", data={"csrf": token, "username": USER, "password": PASSWORD})
    assert c.cookies.get(COOKIE) not in (None, before)


def test_login_redirects_only_inside_the_dashboard(hub) -> None:
    for target, expected in (("/ui/runs", "/ui/runs"), ("//evil.example/x", "/ui/"),
                             ("https://evil.example/", "/ui/"), ("/health", "/ui/")):
        c = client(hub[0])
        token = csrf_of(c.get("/ui/login").text)
        r = c.post("/ui/login", data={"csrf": token, "username": USER, "password": PASSWORD,
                                      "next": target})
        assert r.headers["location"] == expected


# --- CSRF -----------------------------------------------------------------------------------
def test_login_post_needs_the_csrf_token(hub) -> None:
    c = client(hub[0])
    c.get("/ui/login")
    for extra in ({}, {"csrf": "forged"}):
        r = c.post("/ui/login", data={"username": USER, "password": PASSWORD, **extra})
        assert r.status_code == 403
    assert c.get("/ui/").status_code == 303


def test_triage_post_without_or_with_a_wrong_token_is_refused(hub) -> None:
    url, store = hub
    c, token = signed_in(url)
    doc = finding_doc(store, "Use of insecure MD5 hash")
    form = {"finding": key(doc), "action": "resolve", "reason": "csrf probe"}
    other, other_token = signed_in(url)          # a valid token, but another session's
    for bad in ({}, {"csrf": ""}, {"csrf": "x" * 43}, {"csrf": other_token}):
        r = c.post("/ui/triage", data={**form, **bad})
        assert r.status_code == 403, bad
        assert "security token" in r.text
    assert finding_doc(store, "Use of insecure MD5 hash")["Workflow"]["Status"] == "NEW"
    # A cross-site form is refused even with the right token (Origin check).
    r = c.post("/ui/triage", data={**form, "csrf": token},
               headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    # Multipart bodies are not forms we accept.
    r = c.post("/ui/triage", files={"csrf": (None, token)}, data=form)
    assert r.status_code == 403
    r = c.post("/ui/triage", data={**form, "csrf": token})
    assert r.status_code == 303
    assert finding_doc(store, "Use of insecure MD5 hash")["Workflow"]["Status"] == "RESOLVED"


# --- cookie and headers ---------------------------------------------------------------------
def _cookie_attrs(header: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}


def test_session_cookie_flags_over_http(hub) -> None:
    c = client(hub[0])
    r = c.get("/ui/login")
    header = r.headers["set-cookie"]
    assert header.startswith(f"{LOGIN_COOKIE}="), "the sign-in page sets only its form nonce"
    assert {"httponly", "samesite", "path"} <= _cookie_attrs(header)
    assert re.search(r"samesite=lax", header, re.I) and "Path=/ui" in header
    assert "secure" not in _cookie_attrs(header), "plain HTTP cannot carry a Secure cookie"
    r = c.post("/ui/login", data={"csrf": csrf_of(r.text), "username": USER,
                                  "password": PASSWORD})
    assert r.headers["set-cookie"].startswith(f"{COOKIE}=")
    assert {"httponly", "samesite"} <= _cookie_attrs(r.headers["set-cookie"])


def test_session_cookie_is_secure_when_forced(tmp_path: Path) -> None:
    with seeded_server(tmp_path, secure_cookies=True) as (url, _):
        header = client(url).get("/ui/login").headers["set-cookie"]
    assert {"secure", "httponly", "samesite"} <= _cookie_attrs(header)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test cert")
def test_session_cookie_is_secure_over_tls(tmp_path: Path) -> None:
    import threading
    import time

    import uvicorn

    from secpipe.hub.api import create_app
    from secpipe.hub.dashboard import routes
    from tests.hub.dashboard_seed import seed

    cert, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(keyfile), "-out", str(cert)],
                   check=True, capture_output=True)
    store = seed(tmp_path / "hub.db")
    app = create_app(store, extra_routes=routes(store, token=TOKEN))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                            ssl_certfile=str(cert), ssl_keyfile=str(keyfile), lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=trust) as c:
            header = c.get("/ui/login").headers["set-cookie"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
    assert {"secure", "httponly", "samesite"} <= _cookie_attrs(header)


def test_security_headers_on_pages_and_errors(hub) -> None:
    c, _ = signed_in(hub[0])
    for path in ("/ui/", "/ui/findings", "/ui/login", "/ui/finding?id=nope"):
        r = c.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert "script-src" not in csp, "no script at all is allowed (default-src 'none')"
        assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
    assert c.get("/ui/findings").headers["cache-control"] == "no-store"
    assert c.get("/ui/finding?id=nope").status_code == 404


# --- escaping -------------------------------------------------------------------------------
def test_finding_text_is_escaped_and_unsafe_links_stay_text(hub) -> None:
    url, store = hub
    evil = dict(finding_doc(store, "Use of assert detected"))
    evil.update(Id="evil/1", Title='"><img src=x onerror=alert(1)>',
                Description="<b>bold</b> & <iframe src=//x>",
                Remediation={"Recommendation": {"Text": "<svg onload=alert(1)>",
                                                "Url": "javascript:alert(1)"}},
                RecordState="ACTIVE", Workflow={"Status": "NEW"})
    assert store.batch_import([evil]).failed_count == 0
    c, _ = signed_in(url)
    listing = c.get("/ui/findings?severity=HIGH").text
    assert SCRIPT_TITLE not in listing
    assert html.escape(SCRIPT_TITLE, quote=False) in listing
    page = c.get(f"/ui/finding?id=evil/1&arn={ARN}").text
    for raw in ("<img src=x", "<iframe", "<svg onload", "<b>bold</b>"):
        assert raw not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'href="javascript:' not in page and "javascript:alert(1)" in page


# --- what the pages show --------------------------------------------------------------------
def test_filters_search_and_paging(hub) -> None:
    c, _ = signed_in(hub[0])

    def titles(path: str) -> list[str]:
        text = c.get(path).text
        return [html.unescape(t) for t in
                re.findall(r'<td class="title"><a href="[^"]+">([^<]*)</a>', text)]

    assert len(titles("/ui/findings?severity=CRITICAL&severity=HIGH")) == 6
    assert titles("/ui/findings?stage=iac&tool=checkov") == [
        "S3 bucket allows public read", "S3 bucket access logging disabled"]
    assert titles("/ui/findings?tool=hadolint") == ["Pin versions in apt-get install"]
    assert titles("/ui/findings?q=proxy-authorization") == [
        "requests leaks Proxy-Authorization header"]
    assert titles("/ui/findings?resource=Dockerfile") == ["Pin versions in apt-get install"]
    # The finding fixed by run 2 is ARCHIVED and RESOLVED: out of the open list.
    assert "Use of assert detected" not in titles("/ui/findings")
    assert "Use of assert detected" in titles(
        "/ui/findings?workflow=RESOLVED&record=ARCHIVED")


def test_paging_walks_forward_and_back(tmp_path: Path) -> None:
    with seeded_server(tmp_path) as (url, store):
        template = finding_doc(store, "Pin versions in apt-get install")
        extra = [{**template, "Id": f"bulk/{i:03d}", "Title": f"bulk finding {i:03d}"}
                 for i in range(40)]
        assert store.batch_import(extra).failed_count == 0
        c, _ = signed_in(url)
        seen: list[str] = []
        path = "/ui/findings?q=bulk+finding&size=25&sort=title"
        pages = []
        while path:
            text = c.get(path).text
            pages.append(text)
            seen += re.findall(r">(bulk finding \d{3})<", text)
            nxt = re.search(r'<a href="([^"]+)" rel="next">', text)
            path = html.unescape(nxt.group(1)) if nxt else ""
        assert seen == [f"bulk finding {i:03d}" for i in range(40)]
        assert len(pages) == 2 and "40 findings match" in pages[0]
        prev = re.search(r'<a href="([^"]+)" rel="prev">', pages[1])
        back = c.get(html.unescape(prev.group(1))).text
        assert re.findall(r">(bulk finding \d{3})<", back) == seen[:25]


def test_failed_logins_are_throttled(tmp_path: Path) -> None:
    with seeded_server(tmp_path) as (url, _):
        c = client(url)
        token = csrf_of(c.get("/ui/login").text)
        codes = [c.post("/ui/login", data={"csrf": token, "username": USER,
                                           "password": f"guess{i}"}).status_code
                 for i in range(11)]
        assert codes[:10] == [401] * 10 and codes[10] == 429
        r = c.post("/ui/login", data={"csrf": token, "username": USER, "password": PASSWORD})
        assert r.status_code == 429, "even the right password waits out the lockout"


def test_run_view_reports_new_recurring_fixed_and_the_gate(hub) -> None:
    c, _ = signed_in(hub[0])
    run2 = c.get("/ui/runs/run-20240602-0002abc").text
    assert 'id="verdict">failed<' in run2
    assert "Fixed (1)" in run2 and "Use of assert detected" in run2 and "New (0)" in run2
    run3 = c.get("/ui/runs/run-20240603-0003abc").text
    assert "New (1)" in run3 and "Request to a URL from user input" in run3
    assert c.get("/ui/runs/nope").status_code == 404
    overview = c.get("/ui/").text
    assert overview.count("<rect") > 10 and "run-20240601-0001abc" in overview


def test_triage_validation_keeps_findings_unchanged(hub) -> None:
    url, store = hub
    c, token = signed_in(url)
    doc = finding_doc(store, "requests leaks Proxy-Authorization header")
    for form, message in (({"action": "suppress", "reason": ""}, "a reason is required"),
                          ({"action": "suppress", "reason": "x", "expires": "2001-01-01"},
                           "in the past"),
                          ({"action": "suppress", "reason": "x", "expires": "soon"},
                           "must be a date"),
                          ({"action": "explode", "reason": "x"}, "unknown action")):
        r = c.post("/ui/triage", data={"csrf": token, "finding": key(doc),
                                       "back": "/ui/findings", **form}, follow_redirects=True)
        assert r.status_code == 200 and message in html.unescape(r.text)
    assert finding_doc(store, doc["Title"])["Workflow"]["Status"] == "NEW"
    r = c.post("/ui/triage", data={"csrf": token, "finding": key(doc), "action": "note",
                                   "reason": "tracked in JIRA-1"}, follow_redirects=True)
    assert "1 finding noted." in r.text
    assert finding_doc(store, doc["Title"])["Note"]["Text"] == "tracked in JIRA-1"


def test_unknown_pages_and_the_bare_prefix(hub) -> None:
    assert client(hub[0]).get("/ui/nope").status_code == 303
    c, _ = signed_in(hub[0])
    r = c.get("/ui/nope")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    r = c.get("/ui")
    assert r.status_code == 307 and r.headers["location"] == "/ui/"
    assert c.get("/health").json()["status"] == "ok", "the API's routes are untouched"


def test_an_anonymous_flood_cannot_evict_signed_in_sessions() -> None:
    from secpipe.hub.dashboard.security import Sessions

    sessions = Sessions(limit=5)
    user = sessions.new("alice")
    anon = [sessions.new() for _ in range(20)]
    assert sessions.get(user.sid) is user
    assert sessions.get(anon[0].sid) is None and sessions.get(anon[-1].sid) is anon[-1]


def test_pages_and_triage_on_both_databases(store_url: str) -> None:
    """The dashboard's queries (grouped counts, map filters, text search, run diffs) and a
    triage write, on SQLite and on the real PostgreSQL the hub tests start."""
    with seeded_server(store_url) as (url, store):
        c, token = signed_in(url)
        overview = c.get("/ui/").text
        assert re.search(r'id="kpi-open">11<', overview)
        assert re.search(r">sast</text>\s*<rect[^>]*></rect>\s*<text[^>]*>4<", overview)
        listing = c.get("/ui/findings?stage=iac&tool=checkov&q=bucket").text
        assert "2 findings match" in listing
        run2 = c.get("/ui/runs/run-20240602-0002abc").text
        assert "Fixed (1)" in run2 and "Use of assert detected" in run2
        doc = finding_doc(store, "S3 bucket allows public read")
        r = c.post("/ui/triage", data={"csrf": token, "finding": key(doc), "action": "suppress",
                                       "reason": "accepted risk", "back": "/ui/findings"},
                   follow_redirects=True)
        assert "1 finding suppressed." in r.text and "S3 bucket allows public read" not in r.text
        assert finding_doc(store, doc["Title"])["Workflow"]["Status"] == "SUPPRESSED"
        page = c.get("/ui/finding", params={"id": doc["Id"], "arn": doc["ProductArn"]}).text
        assert "Suppressed: accepted risk" in page and "user:alice" in page
