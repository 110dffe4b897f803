from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format
from secpipe.formats.interface import Document
from secpipe.model import Category, Severity
from tests.asserts import check_fixtures
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("bandit")


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("bandit") / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("bandit")
    expected = manifest("bandit")
    assert expected, "MANIFEST.tsv lists no bandit fixture"
    check_fixtures(FMT, folder, expected)


def test_asserted_details() -> None:
    first = _parse("dd.json")[0]
    assert first.title == "Use of insecure MD2, MD4, MD5, or SHA1 hash function."
    assert first.severity is Severity.MEDIUM and first.rule_id == "B303"
    assert first.location.path == "dojo/tools/acunetix/parser.py"
    assert first.properties["test_name"] == "blacklist" and first.confidence == 90
    many = _parse("many_vulns.json")[0]
    assert many.title == "Try, Except, Pass detected." and many.severity is Severity.LOW
    # DefectDojo keeps bandit's Windows separator (dojo/benchmark\views.py); we normalise it
    assert many.location.path == "dojo/benchmark/views.py"
    assert (many.location.start_line, many.location.end_line) == (26, 27)
    assert many.location.snippet == "    except:\n        pass"  # flagged lines, unnumbered


def _report(**item: object) -> bytes:
    base = {"code": "9 a = 1\n10 b = md5(x)\n11 c = 2\n", "filename": "app.py",
            "issue_confidence": "LOW", "issue_severity": "HIGH",
            "issue_cwe": {"id": 327, "link": "https://cwe.mitre.org/data/definitions/327.html"},
            "issue_text": "Weak hash.", "line_number": 10, "line_range": [10],
            "more_info": "https://bandit/b324", "test_id": "B324", "test_name": "hashlib"}
    base.update(item)
    return json.dumps({"results": [base], "errors": [], "metrics": {},
                       "generated_at": "2024-01-01T00:00:00Z"}).encode()


def test_fields_and_snippet_key_survive_line_shift() -> None:
    (finding,) = FMT.parse(_report(), "b.json")
    assert finding.severity is Severity.HIGH and finding.confidence == 30
    assert finding.cwe == ("CWE-327",) and finding.location.snippet == "b = md5(x)"
    shifted = _report(code="19 a = 0\n20 b = md5(x)\n21 c = 3\n", line_number=20, line_range=[20])
    (moved,) = FMT.parse(shifted, "b.json")
    assert moved.fingerprint() == finding.fingerprint()


@pytest.mark.parametrize("word, expected", [
    ("HIGH", Severity.HIGH), ("MEDIUM", Severity.MEDIUM), ("LOW", Severity.LOW),
    ("UNDEFINED", Severity.INFORMATIONAL),
])
def test_severity_mapping(word: str, expected: Severity) -> None:
    (finding,) = FMT.parse(_report(issue_severity=word), "b.json")
    assert finding.severity is expected


def test_hardcoded_password_is_masked() -> None:
    data = _report(test_id="B105", test_name="hardcoded_password_string",
                   issue_text="Possible hardcoded password: 'hunter2-is-my-password'",
                   code="10 password = 'hunter2-is-my-password'\n",
                   issue_cwe={"id": 259, "link": "x"})
    (finding,) = FMT.parse(data, "b.json")
    assert finding.category is Category.SECRET and finding.secret is not None
    assert "hunter2-is-my-password" not in repr(finding)
    assert finding.secret.masked in finding.title


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b'{"errors": []}', b'{"results": {}}', b'{"results": [1]}',
    b'{"results": [{"filename": "a.py"}]}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniff_is_specific() -> None:
    assert not FMT.sniff(Document(b'{"results": [], "errors": [], "paths": {}}'))
    assert not FMT.sniff(Document(b'{"results": [{"check_id": "x", "path": "a", "extra": {}}], "errors": []}'))
