"""Every passive rule fires on the defect app and stays quiet on its clean twin.

The apps are in `targets.py`; each is scanned once per scheme by the real spider and engine.
HTTPS-only rules (10011, 10015, 10035) are checked over TLS with a throwaway certificate, and
also checked to stay quiet on the defect app over plain HTTP, as ZAP's do.
"""

from __future__ import annotations

import pytest

from secpipe.engines.baseline import RULES
from tests.engines.targets import alerts, names

# rule id -> (scheme, alert names that must be among those raised on the defect app, path)
CASES: dict[int, tuple[str, set[str], str]] = {
    10010: ("http", {"Cookie No HttpOnly Flag"}, "/"),
    10011: ("https", {"Cookie Without Secure Flag"}, "/"),
    10015: ("https", {"Re-examine Cache-control Directives"}, "/"),
    10017: ("http", {"Cross-Domain JavaScript Source File Inclusion"}, "/"),
    10019: ("http", {"Content-Type Header Missing"}, "/nocontenttype"),
    10020: ("http", {"Missing Anti-clickjacking Header"}, "/about"),
    10021: ("http", {"X-Content-Type-Options Header Missing"}, "/api/data"),
    10023: ("http", {"Information Disclosure - Debug Error Messages"}, "/error"),
    10027: ("http", {"Information Disclosure - Suspicious Comments"}, "/static/app.js"),
    10035: ("https", {"Strict-Transport-Security Header Not Set"}, "/"),
    10036: ("http", {'Server Leaks Version Information via "Server" HTTP Response Header Field'}, "/"),
    10037: ("http", {'Server Leaks Information via "X-Powered-By" HTTP Response Header Field(s)'},
            "/"),  # fmt: skip
    10038: ("http", {"Content Security Policy (CSP) Header Not Set"}, "/about"),
    10049: ("http", {"Storable and Cacheable Content"}, "/"),
    10054: ("http", {"Cookie without SameSite Attribute", "Cookie with SameSite Attribute None"},
            "/"),  # fmt: skip
    10055: ("http", {"CSP: Wildcard Directive", "CSP: script-src unsafe-inline",
                     "CSP: style-src unsafe-inline", "CSP: script-src unsafe-eval"}, "/"),  # fmt: skip
    10063: ("http", {"Permissions Policy Header Not Set"}, "/static/app.js"),
    10096: ("http", {"Timestamp Disclosure - Unix"}, "/"),
    10098: ("http", {"Cross-Domain Misconfiguration"}, "/api/data"),
    10109: ("http", {"Modern Web Application"}, "/"),
    10202: ("http", {"Absence of Anti-CSRF Tokens"}, "/login"),
    90003: ("http", {"Sub Resource Integrity Attribute Missing"}, "/"),
    90004: ("http", {"Insufficient Site Isolation Against Spectre Vulnerability"}, "/"),
    90022: ("http", {"Application Error Disclosure"}, "/error"),
}


def test_every_required_rule_has_a_case() -> None:
    required = {10010, 10011, 10015, 10017, 10019, 10020, 10021, 10023, 10027, 10035, 10036,
                10037, 10038, 10049, 10054, 10055, 10063, 10096, 10098, 10109, 10202, 90003,
                90004, 90022}  # fmt: skip
    assert required <= set(RULES)
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("plugin_id", sorted(CASES))
def test_rule_fires_on_defect_app(scan, plugin_id: int) -> None:
    scheme, expected, path = CASES[plugin_id]
    result = scan("defect", scheme)
    found = alerts(result, plugin_id)
    assert found, f"{plugin_id} did not fire on the defect app ({scheme})"
    assert expected <= names(result, plugin_id)
    uris = {i["uri"].split("/", 3)[-1] for a in found for i in a["instances"]}
    assert path.lstrip("/") in uris, (plugin_id, uris)
    rule = RULES[plugin_id]
    for alert in found:
        assert alert["cweid"] == str(rule.cwe) and alert["wascid"] == str(rule.wasc)
        assert alert["alertRef"].split("-")[0] == str(plugin_id) and alert["instances"]


@pytest.mark.parametrize("plugin_id", sorted(CASES))
def test_rule_quiet_on_clean_twin(scan, plugin_id: int) -> None:
    scheme, _, _ = CASES[plugin_id]
    result = scan("clean", scheme)
    found = names(result, plugin_id)
    if plugin_id == 10049:
        # ZAP's Content Cacheability raises one of three informational alerts on EVERY
        # response; the fixed state is "Non-Storable Content" (Cache-Control: no-store).
        assert found == {"Non-Storable Content"}
    else:
        assert not found, f"{plugin_id} fired on the clean twin: {found}"


@pytest.mark.parametrize("plugin_id", [10011, 10015, 10035])
def test_https_only_rules_skip_plain_http(scan, plugin_id: int) -> None:
    assert not alerts(scan("defect", "http"), plugin_id)


def test_clean_twin_only_raises_non_storable(scan) -> None:
    for scheme in ("http", "https"):
        result = scan("clean", scheme)
        assert {(a["pluginid"], a["alert"]) for a in alerts(result)} == {
            ("10049", "Non-Storable Content")
        }
        assert result.verdict == 2  # like zap-baseline: an informational alert still WARNs


def test_defect_evidence_is_verbatim(scan) -> None:
    result = scan("defect", "http")
    (sri_script,) = [
        i for a in alerts(result, 90003) for i in a["instances"] if "lib.js" in i["evidence"]
    ]
    assert sri_script["evidence"] == '<script src="https://cdn.example.com/lib.js"></script>'
    cookie = [i for a in alerts(result, 10010) for i in a["instances"]]
    assert {i["param"] for i in cookie} == {"session", "theme"}
    assert {i["evidence"] for i in cookie} == {"Set-Cookie: session", "Set-Cookie: theme"}
    assert all("abcdef" not in i["evidence"] for i in cookie)  # never the cookie's value
    (server,) = {i["evidence"] for a in alerts(result, 10036) for i in a["instances"]}
    assert server == "Apache/2.4.1 (Unix)"
    errors = {i["evidence"] for a in alerts(result, 90022) for i in a["instances"]}
    assert errors == {"HTTP/1.1 500 Internal Server Error", "You have an error in your SQL syntax"}
    risks = {a["riskcode"] for a in alerts(result, 90022)}
    assert risks == {"1", "2"}  # 500 status: Low; error text in a 200: Medium (ZAP's split)
