"""The dashboard under attack: hostile query strings and forms never give a 500, and
secpipe's own passive DAST baseline, crawling the signed-in dashboard, reports nothing Medium
or higher. On SQLite and PostgreSQL.

CSRF tokens, the Origin check, the session cookie's flags (HttpOnly, SameSite=Lax, Secure over
TLS or when forced), security headers and login throttling are tested in
tests/hub/test_dashboard_http.py and not repeated here.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import httpx
import pytest

from tests.hub.conftest import pg_server  # noqa: F401  (session fixture)
from tests.hub.dashboard_seed import PASSWORD, USER, seeded_server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def dashboard(request, tmp_path_factory) -> Iterator[tuple[str, Any]]:
    if request.param == "sqlite":
        with seeded_server(tmp_path_factory.mktemp("dash")) as served:
            yield served
        return
    pg = request.getfixturevalue("pg_server")
    url = pg.new_url()
    try:
        with seeded_server(url) as served:
            yield served
    finally:
        pg.drop(url)


def _signed_in(url: str) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/ui/login").text).group(1)
    r = c.post("/ui/login", data={"csrf": token, "username": USER, "password": PASSWORD})
    assert r.status_code == 303
    return c, re.search(r'name="csrf" value="([^"]+)"', c.get("/ui/").text).group(1)


@pytest.mark.parametrize("path", [
    "/ui/findings?q=%00", "/ui/findings?q=" + "x" * 5000, "/ui/findings?size=%C2%B2",
    "/ui/findings?" + "severity=HIGH&" * 500, "/ui/findings?page=" + "A" * 10_000,
    "/ui/findings?page=%00", "/ui/findings?tool=%00&stage=%00", "/ui/findings?resource=%00",
    "/ui/findings?product=%ED%A0%80", "/ui/finding?id=%00&arn=%00",
    "/ui/finding?id=" + "x" * 5000, "/ui/runs/%00", "/ui/runs/" + "x" * 5000, "/ui/%00",
])
def test_dashboard_hostile_query_strings(dashboard, path: str) -> None:
    """Never a 500 (a NUL reached PostgreSQL as a DataError, and `size=²` passed
    str.isdigit() into int()); the signed-in pages keep working."""
    c, _ = _signed_in(dashboard[0])
    r = c.get(path)
    assert r.status_code in (200, 400, 404), (path[:80], r.status_code)
    assert "SQL built from user input" in c.get("/ui/findings").text


def test_dashboard_hostile_forms(dashboard) -> None:
    url, store = dashboard
    c, csrf = _signed_in(url)
    anonymous = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', anonymous.get("/ui/login").text).group(1)
    r = anonymous.post("/ui/login", data={"csrf": token, "username": "alice\x00",
                                          "password": "x\x00"})
    assert r.status_code in (400, 401)
    before = store.get_findings({"Title": [{"Value": "Use of assert detected",
                                            "Comparison": "EQUALS"}]})[0]
    for form in ({"finding": "x\x00", "action": "resolve", "reason": "r"},
                 {"finding": "x", "action": "suppress\x00", "reason": "\x00" * 600},
                 {"finding": "x", "action": "note", "reason": "\ud800".encode(
                     "utf-8", "surrogatepass").decode("latin-1")}):
        r = c.post("/ui/triage", data={"csrf": csrf, **form})
        assert r.status_code in (303, 400, 404), r.status_code
    after = store.get_findings({"Title": [{"Value": "Use of assert detected",
                                           "Comparison": "EQUALS"}]})[0]
    assert after == before


def test_dast_baseline_against_the_signed_in_dashboard(dashboard) -> None:
    """secpipe's own passive baseline (ZAP's rules), crawling the dashboard with a signed-in
    session cookie: nothing Medium or higher."""
    from secpipe.engines.baseline import run_baseline
    from secpipe.hub.dashboard.security import COOKIE

    url, _ = dashboard
    c, _ = _signed_in(url)
    result = run_baseline(f"{url}/ui/", headers={"Cookie": f"{COOKIE}={c.cookies.get(COOKIE)}"},
                          max_pages=150, max_seconds=60)
    assert result.error is None, result.error
    crawled = " ".join(result.urls)
    assert "/ui/findings" in crawled and "/ui/runs/" in crawled and "/ui/finding?" in crawled, \
        "the crawl must have been signed in"
    alerts = [a for site in result.report["site"] for a in site["alerts"]]
    serious = [(a["name"], a["riskdesc"], a["instances"][0]["uri"]) for a in alerts
               if int(a["riskcode"]) >= 2]
    print(f"\nbaseline on the dashboard: {result.pages} responses, "
          f"{len(alerts)} alerts: {sorted({(a['name'], a['riskdesc']) for a in alerts})}")
    assert serious == []
    assert c.get("/ui/").status_code == 200, "the crawl did not sign the session out"
