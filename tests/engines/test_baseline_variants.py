"""Rule variants the twin apps do not cover, on hand-made messages: ZAP's sub-alerts and the
cases where ZAP deliberately stays quiet."""

from __future__ import annotations

import time

from secpipe.engines.baseline.htmldoc import HtmlDoc
from secpipe.engines.baseline.message import Message
from secpipe.engines.baseline.rules import RULES


def msg(url: str = "https://app.test/", status: int = 200, headers=(), body: str = "", **kw):
    return Message(url=url, method=kw.pop("method", "GET"), status=status,
                   headers=tuple(headers), body=body.encode(), **kw)  # fmt: skip


def run(plugin_id: int, m: Message) -> list:
    return list(RULES[plugin_id].check(m))


HTML = ("Content-Type", "text/html")


def test_hsts_variants() -> None:
    def refs(value: str | None, **kw) -> list[str]:
        headers = [HTML] + ([("Strict-Transport-Security", value)] if value is not None else [])
        return [h.ref for h in run(10035, msg(headers=headers, body="<p>x</p>", **kw))]

    assert refs(None) == ["1"]
    assert refs("max-age=0") == ["2"]
    assert refs("includeSubDomains") == ["5"]
    assert refs('"max-age=300"') == ["7"]
    assert refs("max-age=31536000; includeSubDomains") == []
    assert refs(None, url="http://app.test/") == []  # plain HTTP: ZAP does not report missing
    redirect = msg(status=302, headers=[("Location", "/login")])
    assert run(10035, redirect) == []  # same-origin HTTPS redirect: only at LOW threshold
    two = msg(headers=[("Strict-Transport-Security", "max-age=1")] * 2)
    assert [h.ref for h in run(10035, two)] == ["3"]
    meta = msg(headers=[HTML, ("Strict-Transport-Security", "max-age=9")],
               body='<meta http-equiv="Strict-Transport-Security" content="max-age=9">')  # fmt: skip
    assert [h.ref for h in run(10035, meta)] == ["6"]


def test_anti_clickjacking_variants() -> None:
    def refs(headers, body="<p>x</p>", status=200) -> list[str]:
        return [h.ref for h in run(10020, msg(headers=[HTML, *headers], body=body, status=status))]

    assert refs([]) == ["1"]
    assert refs([("X-Frame-Options", "ALLOW-FROM https://x.test")]) == ["4"]
    assert refs([("X-Frame-Options", "DENY"), ("X-Frame-Options", "DENY")]) == ["2"]
    assert refs([("Content-Security-Policy", "frame-ancestors 'none'")]) == []
    assert refs([], status=404) == []  # errors and redirects only at LOW threshold
    meta = '<meta http-equiv="X-Frame-Options" content="DENY">'
    assert refs([("X-Frame-Options", "SAMEORIGIN")], body=meta) == ["3"]
    assert run(10020, msg(headers=[("Content-Type", "application/json")], body="{}")) == []


def test_cookie_variants() -> None:
    past = "Thu, 01 Jan 1970 00:00:00 GMT"
    expired = msg(headers=[("Set-Cookie", f"old=; Expires={past}")])
    for plugin_id in (10010, 10011, 10054):
        assert run(plugin_id, expired) == []  # a deletion is not a cookie to protect
    odd = msg(headers=[("set-cookie", "a=1; samesite=Loose; HTTPONLY; secure")])
    assert run(10010, odd) == [] and run(10011, odd) == []
    (hit,) = run(10054, odd)
    assert hit.ref == "3" and hit.name == "Cookie with Invalid SameSite Attribute"
    assert hit.evidence == "Set-Cookie: a" and hit.param == "a"


def test_csp_variants() -> None:
    def names(policy: str, meta: bool = False) -> set[str]:
        if meta:
            m = msg(headers=[HTML], body=f'<meta http-equiv="Content-Security-Policy" content="{policy}">')
        else:
            m = msg(headers=[HTML, ("Content-Security-Policy", policy)], body="<p></p>")
        return {h.name for h in run(10055, m)}

    strict = "default-src 'self'; form-action 'self'; frame-ancestors 'none'"
    assert names(strict) == set()
    assert names("default-src *; form-action 'self'; frame-ancestors 'none'") == {
        "CSP: Wildcard Directive"
    }
    nonce = strict + "; script-src 'self' 'unsafe-inline' 'nonce-abc'"
    assert names(nonce) == set()  # a nonce makes browsers ignore 'unsafe-inline'
    assert names(strict + "; script-src self") == {"CSP: Notices"}  # keyword without quotes
    assert "CSP: Meta Policy Invalid Directive" in names(strict, meta=True)
    assert "CSP: Wildcard Directive" not in names(
        "default-src 'self'; form-action 'self'", meta=True
    )  # frame-ancestors does not apply to <meta> policies
    both = msg(headers=[HTML, ("Content-Security-Policy", strict)],
               body=f'<meta http-equiv="Content-Security-Policy" content="{strict}">')  # fmt: skip
    assert "CSP: Header & Meta" in {h.name for h in run(10055, both)}
    assert run(10055, msg(headers=[("Content-Type", "application/json"),
                                   ("Content-Security-Policy", "default-src *")])) == []  # fmt: skip


def test_csp_missing_report_only() -> None:
    ro = msg(headers=[HTML, ("Content-Security-Policy-Report-Only", "default-src 'self'")])
    assert {h.ref for h in run(10038, ro)} == {"1", "3"}
    meta = msg(headers=[HTML], body='<meta http-equiv="content-security-policy" content="x">')
    assert run(10038, meta) == []


def test_cacheability_variants() -> None:
    def ref(headers, status=200, method="GET") -> str:
        (hit,) = run(10049, msg(headers=headers, status=status, method=method))
        return hit.ref

    assert ref([]) == "3"
    assert ref([("Cache-Control", "no-store")]) == "1"
    assert ref([("Cache-Control", "private, max-age=60")]) == "1"
    assert ref([], method="PUT") == "1"
    assert ref([], status=302) == "1"  # not cacheable by default and nothing allows it
    assert ref([("Cache-Control", "no-cache")]) == "2"
    assert ref([("Cache-Control", "max-age=0, must-revalidate")]) == "2"
    assert ref([("Cache-Control", "max-age=0")]) == "2"
    assert ref([("Cache-Control", "public, max-age=600")]) == "3"


def test_cache_control_only_https_text_non_error() -> None:
    assert run(10015, msg(headers=[HTML], body="x"))
    assert not run(10015, msg(headers=[HTML, ("Cache-Control", "no-cache, no-store, must-revalidate")], body="x"))
    assert not run(10015, msg(url="http://app.test/", headers=[HTML], body="x"))
    assert not run(10015, msg(headers=[("Content-Type", "application/javascript")], body="x"))
    assert not run(10015, msg(headers=[HTML], body="x", status=500))


def test_site_isolation_variants() -> None:
    doc = [HTML]
    assert {h.ref for h in run(90004, msg(headers=doc))} == {"1", "2", "3"}
    good = [*doc, ("Cross-Origin-Resource-Policy", "same-origin"),
            ("Cross-Origin-Embedder-Policy", "credentialless"),
            ("Cross-Origin-Opener-Policy", "same-origin; report-to=\"x\"")]  # fmt: skip
    assert run(90004, msg(headers=good)) == []
    cors = msg(headers=[("Content-Type", "image/png"), ("Access-Control-Allow-Origin", "*")])
    assert run(90004, cors) == []  # CORS-shared resources need no CORP; images are no documents
    assert run(90004, msg(headers=doc, status=404)) == []
    (site,) = run(90004, msg(headers=[("Content-Type", "text/css"),
                                      ("Cross-Origin-Resource-Policy", "same-site")]))  # fmt: skip
    assert site.evidence == "same-site"


def test_timestamp_range_and_ignored_headers() -> None:
    now = int(time.time())
    (hit,) = run(10096, msg(headers=[("X-Build", str(now))], body="1000000000 9999999999"))
    assert hit.evidence == str(now)  # 2001 and 2286 are out of the ten-year window
    assert run(10096, msg(headers=[("ETag", str(now))])) == []


def test_content_rules_stay_quiet_where_zap_does() -> None:
    js = [("Content-Type", "application/javascript")]
    assert run(10023, msg(headers=js, body="Internal Server Error")) == []  # JS only at LOW
    assert run(90022, msg(status=404, headers=[HTML], body="Internal Server Error")) == []
    form = '<form action="/x"><input type="hidden" id="CSRFToken" value="1"></form>'
    assert run(10202, msg(headers=[HTML], body=form)) == []  # token found by id, any case
    local = '<script src="/a.js"></script><script src="//app.test/b.js"></script>' \
        '<script src="https://cdn.test/c.js" integrity="sha384-x"></script>'  # fmt: skip
    assert run(10017, msg(headers=[HTML], body=local)) == []
    assert run(90003, msg(headers=[HTML], body=local)) == []
    icon = '<link rel="icon" href="https://cdn.test/i.png">'
    assert run(90003, msg(headers=[HTML], body=icon)) == []  # only stylesheet/preload links
    (hit,) = run(10027, msg(headers=js, body="a = 1;\n// TODO later\nb = 2; // TODO\n"))
    assert hit.evidence == "TODO" and "detected 2 times" in hit.otherinfo
    assert run(10109, msg(headers=[HTML], body='<a href="/x">x</a>')) == []
    (app,) = run(10109, msg(headers=[HTML], body='<script src="/app.js"></script>'))
    assert app.evidence == '<script src="/app.js"></script>'


def test_htmldoc_spans_survive_bad_markup() -> None:
    doc = HtmlDoc('<div><a href="/x">one<b>two</a><script>if (a < b) {}</script><p>open')
    (link,) = doc.all("a")
    assert link.source == '<a href="/x">one<b>two</a>'
    assert doc.first("script").source == "<script>if (a < b) {}</script>"
    assert doc.first("p").source == "<p>"  # unclosed: just its start tag
