"""The baseline's reports: ZAP's JSON shape (read back by secpipe's own `zap` parser) and HTML."""

from __future__ import annotations

import json
from pathlib import Path

from secpipe.engines.baseline import RULES, main
from secpipe.formats import get_format
from secpipe.formats.registry import sniff
from tests.asserts import assert_valid_asff
from tests.engines.targets import alerts

ALERT_KEYS = {
    "pluginid", "alertRef", "alert", "name", "riskcode", "confidence", "riskdesc", "desc",
    "instances", "count", "solution", "otherinfo", "reference", "cweid", "wascid", "sourceid",
}  # fmt: skip
INSTANCE_KEYS = {"uri", "method", "param", "attack", "evidence", "otherinfo"}


def _scalars(value, path="$"):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _scalars(v, f"{path}.{k}")
    elif isinstance(value, list):
        for n, v in enumerate(value):
            yield from _scalars(v, f"{path}[{n}]")
    else:
        yield path, value


def test_json_has_zaps_shape_and_only_string_scalars(scan) -> None:
    report = scan("defect", "http").report
    assert report["@programName"] == "secpipe baseline"
    assert set(report) == {"@programName", "@version", "@generated", "site"}
    (site,) = report["site"]
    assert site["@ssl"] == "false" and site["@host"] == "127.0.0.1"
    assert site["@name"] == f"http://127.0.0.1:{site['@port']}"
    for alert in site["alerts"]:
        assert set(alert) == ALERT_KEYS
        assert alert["count"] == str(len(alert["instances"]))
        assert alert["riskdesc"].split(" ")[0] in ("Informational", "Low", "Medium", "High")
        assert alert["desc"].startswith("<p>")
        for instance in alert["instances"]:
            assert set(instance) == INSTANCE_KEYS
    bad = [(p, v) for p, v in _scalars(report) if not isinstance(v, str)]
    assert not bad, bad[:5]
    risks = [int(a["riskcode"]) for a in site["alerts"]]
    assert risks == sorted(risks, reverse=True)  # ZAP lists by risk, highest first
    https = scan("defect", "https").report["site"][0]
    assert https["@ssl"] == "true" and https["@name"].startswith("https://127.0.0.1:")


def test_report_parses_with_secpipes_zap_parser(scan) -> None:
    result = scan("defect", "http")
    data = result.json().encode()
    assert sniff(data, "baseline.json").name == "zap"
    findings = get_format("zap").parse(data, "baseline.json")
    assert findings
    by_rule = {f.rule_id: f for f in findings}
    assert set(by_rule) == {a["pluginid"] for a in alerts(result)}
    assert_valid_asff(findings)
    for finding in findings:
        rule = RULES[int(finding.rule_id)]
        assert finding.tool == "zap"
        if rule.cwe > 0 and finding.rule_id != "10063":
            assert finding.cwe == (f"CWE-{rule.cwe}",)
    clickjacking = by_rule["10020"]
    assert clickjacking.title == "Missing Anti-clickjacking Header"
    assert clickjacking.severity.name == "MEDIUM"
    assert clickjacking.properties["instances"] == str(
        len(alerts(result, 10020)[0]["instances"])
    )
    assert by_rule["10036"].severity.name == "LOW" and by_rule["10109"].severity.name == "INFORMATIONAL"
    assert by_rule["90022"].severity.name == "MEDIUM"  # merged Low+Medium alerts: highest risk


def test_html_report_is_self_contained_and_escaped(scan) -> None:
    page = scan("defect", "http").html
    assert page.startswith("<!DOCTYPE html>") and "Missing Anti-clickjacking Header" in page
    assert "<script" not in page  # evidence quoting <script src=...> is escaped, not live
    assert "&lt;script src=&#34;https://cdn.example.com/lib.js&#34;&gt;" in page
    assert 'src="http' not in page and "<link" not in page  # no external resources
    assert "WARN" in page and "CWE-1021" in page


def test_cli_writes_reports_and_returns_the_verdict(defect_site, tmp_path: Path, capsys) -> None:
    rules = tmp_path / "rules.tsv"
    assert main(["-g", str(rules)]) == 0
    text = rules.read_text()
    rules.write_text(text.replace("10098\tWARN", "10098\tFAIL"))
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    code = main(["-t", defect_site.url, "-c", str(rules), "-J", str(out_json), "-r",
                 str(out_html), "--max-seconds", "20"])  # fmt: skip
    assert code == 1
    printed = capsys.readouterr().out
    assert "FAIL-NEW: Cross-Domain Misconfiguration [10098] x 1" in printed
    assert "WARN-NEW: Missing Anti-clickjacking Header [10020]" in printed
    assert json.loads(out_json.read_text())["site"][0]["alerts"]
    assert out_html.read_text().startswith("<!DOCTYPE html>")
