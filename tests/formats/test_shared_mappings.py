"""Parsers share equal small mappings between findings (`_common.shared_mapping`) and keep
per-finding ids out of the interned strings: the findings must be exactly those each finding
holding its own dict made (same fields, same mappings in the same order)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secpipe.formats import _common, _secrets, checkov
from tests.conftest import OWN_FIXTURES
from tests.formats.fixture_reports import parse_or_error, reports_of

FOLDERS = {"checkov": ("checkov",), "detect-secrets": ("detect-secrets", "detect_secrets"),
           "trufflehog3": ("trufflehog3",)}


def _reports(tool: str) -> list[Path]:
    return reports_of(tool, *FOLDERS[tool])


def _parse(tool: str, path: Path) -> list:
    return parse_or_error(tool, path)


def _mappings(findings: list) -> list:
    return [(list(f.properties.items()),
             None if f.resource is None else list(f.resource.details.items()))
            for f in findings if not isinstance(f, str)]


@pytest.mark.parametrize("tool", sorted(FOLDERS))
def test_shared_mappings_change_no_finding(tool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reports = _reports(tool)
    shared = {path.name: _parse(tool, path) for path in reports}
    # the former way: every finding its own dict
    monkeypatch.setattr(_secrets, "shared_mapping", dict)
    monkeypatch.setattr(checkov, "shared_mapping", dict)
    for path in reports:
        own = _parse(tool, path)
        assert shared[path.name] == own, path
        assert _mappings(shared[path.name]) == _mappings(own), path


def test_checkov_findings_share_their_details_and_properties() -> None:
    report = json.loads((OWN_FIXTURES / "checkov" / "checkov-3.3.30-multi.json").read_text())
    kube = next(rep for rep in report if rep["check_type"] == "kubernetes")
    failed = kube["results"]["failed_checks"]
    failed.append(dict(failed[0], resource="Deployment.default.another"))   # one check, twice
    findings = checkov.parse(json.dumps(report).encode(), "multi")
    kubernetes = [f for f in findings if f.properties["check_type"] == "kubernetes"]
    assert len({id(f.resource.details) for f in kubernetes}) == 1
    first, *_, again = kubernetes
    assert first.rule_id == again.rule_id and first.resource.id != again.resource.id
    assert first.properties is again.properties


def test_shared_mapping_keeps_order_and_bounds_its_table(monkeypatch) -> None:
    monkeypatch.setattr(_common, "_SHARED_MAPPINGS", {})
    monkeypatch.setattr(_common, "_SHARED_MAPPINGS_MAX", 3)
    first = _common.shared_mapping({"a": "1", "b": "2"})
    assert _common.shared_mapping({"a": "1", "b": "2"}) is first
    other_order = _common.shared_mapping({"b": "2", "a": "1"})
    assert other_order is not first and list(other_order) == ["b", "a"]
    for n in range(5):
        _common.shared_mapping({"n": str(n)})
    assert len(_common._SHARED_MAPPINGS) <= 3
