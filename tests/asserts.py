"""Assertions every format test shares: findings must always serialise to valid ASFF."""

from __future__ import annotations

from typing import Iterable

from secpipe.model import Finding, SourceContext, to_asff, validate_asff

CTX = SourceContext(repo="example", branch="main", commit="0" * 40, run_id="test", stage="test")


def assert_valid_asff(findings: Iterable[Finding]) -> None:
    for finding in findings:
        obj = to_asff(finding, CTX)
        problems = validate_asff(obj)
        assert not problems, f"{finding.tool}/{finding.rule_id}: {problems}"


def check_fixtures(fmt, folder, expected: dict[str, str], *, deliberate: dict[str, int] | None = None,
                   sniffs: bool = True) -> None:
    """Every listed fixture parses to MANIFEST.tsv's count (or our documented deliberate one),
    is recognised as its format, and yields valid ASFF."""
    from secpipe.formats import sniff

    deliberate = deliberate or {}
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = fmt.parse(data, name)
        if name in deliberate:
            assert len(findings) == deliberate[name], name
        elif count != "unknown":
            assert len(findings) == int(count), name
        if sniffs:
            assert sniff(data, name).name == fmt.name, name
        assert_valid_asff(findings)


def from_script_json(text: str) -> dict:
    """The inverse of `secpipe.outputs._html_data.to_script_json`: report.html's embedded data
    (gzipped JSON in base64), as the tests read it. Kept out of secpipe, which never reads
    an archive it did not check for bombs (tests/reliability/test_archives.py)."""
    import base64
    import gzip
    import json

    return json.loads(gzip.decompress(base64.b64decode(text)))
