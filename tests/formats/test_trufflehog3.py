from __future__ import annotations

import json
from collections import Counter

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.trufflehog3 import strip_diff_marker
from secpipe.model import Category, Severity
from tests.asserts import assert_valid_asff
from tests.conftest import OWN_FIXTURES, manifest, shared_fixture_dir

FMT = get_format("trufflehog3")

# Deliberate differences from MANIFEST.tsv. DefectDojo merges repeats per file and rule (its
# first legacy finding has nb_occurences 7); secpipe keeps one finding per distinct leaked value
# per file, since each value is a separate credential to rotate, and merges only the repeats
# of one value across commits (diff markers `+`/`-` dropped).
DELIBERATE = {
    # 32 entries over 7 files -> 21 distinct values: users.json 11 password hashes,
    # components.html 3, views.py 2, jquery.datetimepicker.css 2, dashboard.html 1,
    # forms.py 1, CHANGELOG.md 1.
    "many_vulns_legacy.json": ("7", 21),
}


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("trufflehog3")
    expected = manifest("trufflehog3")
    assert expected, "MANIFEST.tsv lists no trufflehog3 fixture"
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if name in DELIBERATE:
            theirs, ours = DELIBERATE[name]
            assert count == theirs and len(findings) == ours, name
        elif count != "unknown":
            assert len(findings) == int(count), name
        assert sniff(data, name).name == "trufflehog3"
        assert_valid_asff(findings)


def test_legacy_breakdown() -> None:
    data = (shared_fixture_dir("trufflehog3") / "many_vulns_legacy.json").read_bytes()
    findings = FMT.parse(data, "many_vulns_legacy.json")
    per_file = Counter(f.path for f in findings)
    assert per_file["fixtures/users.json"] == 11 and len(per_file) == 7
    views = [f for f in findings if f.path == "taskManager/views.py" and f.secret.masked.startswith("#208")]
    # '#2082…', '+#2082…' and '-#2082…' across 14 records are one value
    assert len(views) == 1 and views[0].properties["occurrences"] == "14"
    assert all(f.severity is Severity.HIGH and f.rule_id == "high-entropy" for f in findings)


def test_current_fields_and_severity() -> None:
    data = (shared_fixture_dir("trufflehog3") / "many_vulns_current.json").read_bytes()
    high, medium, low = FMT.parse(data, "many_vulns_current.json")
    assert (high.path, high.location.start_line, high.severity) == ("docker/Dockerfile", 3, Severity.HIGH)
    assert high.properties["commit"] == "9c3f4d641d14eba2740febccd902cde300218a8d"
    assert medium.severity is Severity.MEDIUM and medium.properties["occurrences"] == "2"
    assert (low.path, low.location.start_line, low.severity) == ("env-file.txt", 10, Severity.LOW)
    assert "commit" not in low.properties
    assert high.category is Category.SECRET and high.title.startswith("High Entropy in docker/Dockerfile")
    assert high.location_key == f"secret:{high.secret.sha256}"


def test_own_fixture_from_trufflehog3_3_0_10() -> None:
    """trufflehog3 3.0.10 on a throw-away repo: made-up AWS key pair in .env, a made-up GitHub
    token (removed in a second commit) and Slack webhook in src/settings.py. 12 issues from the
    working tree and history -> 5 distinct values."""
    data = (OWN_FIXTURES / "trufflehog3" / "own_repo.json").read_bytes()
    assert sniff(data, "own_repo.json").name == "trufflehog3"
    findings = FMT.parse(data, "own_repo.json")
    assert len(json.loads(data)) == 12 and len(findings) == 5
    assert Counter(f.rule_id for f in findings) == {
        "high-entropy": 3, "amazon.aws-api-key": 1, "slack.webhook": 1}
    aws = next(f for f in findings if f.rule_id == "amazon.aws-api-key")
    assert aws.path == ".env" and aws.secret.masked == "AKIA…K3PW"
    assert aws.severity is Severity.MEDIUM  # the rule's own rating
    assert_valid_asff(findings)


def test_diff_markers() -> None:
    assert strip_diff_marker('+      "password": "x"') == '"password": "x"'
    assert strip_diff_marker("-#abc") == "#abc"
    assert strip_diff_marker("-----BEGIN RSA PRIVATE KEY-----") == "-----BEGIN RSA PRIVATE KEY-----"


def test_identity_survives_line_shifts() -> None:
    item = {"rule": {"id": "r", "message": "R", "severity": "HIGH"}, "path": "a.txt",
            "line": "3", "secret": "s3cr3tvalue-0123456789", "context": {}}
    (a,) = FMT.parse(json.dumps([item]).encode(), "a")
    (b,) = FMT.parse(json.dumps([dict(item, line="30")]).encode(), "b")
    assert a.fingerprint() == b.fingerprint()


def test_empty_report_is_clean() -> None:
    assert FMT.parse(b"[]", "clean.json") == []


@pytest.mark.parametrize("bad", [
    b"",
    b"{",
    b"{}",
    b"[1]",
    b'[{"path": "a"}]',
    b'[{"rule": {"id": "x"}, "path": "a", "secret": ""}]',
    b'[{"path": "a", "reason": "r", "stringsFound": "x"}]',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)



def _shown(report: list) -> list[tuple]:
    findings = get_format("trufflehog3").parse(json.dumps(report).encode(), "t.json")
    return sorted((f.path, f.rule_id, f.location.start_line, f.properties.get("commit", ""),
                   f.properties.get("commits", "") != "") for f in findings)


def test_a_merged_finding_shows_its_first_line_whatever_the_report_order() -> None:
    """trufflehog3's workers list matches in another order on every run; the merged finding
    showed another line from run to run. Now: the working tree's first line, else history's."""
    import random

    data = json.loads((OWN_FIXTURES / "trufflehog3" / "own_repo.json").read_bytes())
    rng = random.Random(7)
    history = [i for i in data if i["commit"]]
    for sample in (data, history):
        expected = _shown(sample)
        for _ in range(8):
            assert _shown(rng.sample(sample, len(sample))) == expected
    # history only: each value shows the lowest line any commit had it on
    lowest: dict[tuple[str, str], int] = {}
    for item in history:
        key = (item["path"], item["secret"])
        lowest[key] = min(lowest.get(key, 1 << 30), int(item["line"]))
    assert sorted((p, line) for p, _, line, _, _ in _shown(history)) == \
        sorted((p, line) for (p, _), line in lowest.items())
