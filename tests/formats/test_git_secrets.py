"""git-secrets text output. There is no third-party fixture: the files in
tests/fixtures/git-secrets/ are the real stderr of git-secrets 1.3.0 (`--register-aws` plus
`--add -- '-----BEGIN[ A-Z]*PRIVATE KEY-----'`) on a throw-away repo holding made-up keys.
git-secrets splits patterns on blanks, so that private-key pattern also became `KEY-----`,
which is why the history scan also matched the `-----END ...` line."""

from __future__ import annotations

import pytest

from secpipe.formats import Document, ReportFormatError, get_format, sniff
from secpipe.formats.git_secrets import classify
from secpipe.model import Category, Severity
from tests.asserts import assert_valid_asff
from tests.conftest import OWN_FIXTURES

FMT = get_format("git-secrets")
FOLDER = OWN_FIXTURES / "git-secrets"
SHA = "800e7fdedcc8fa0402c19074aab54038f7aac939"


def _parse(name: str):
    data = (FOLDER / name).read_bytes()
    return FMT.parse(data, name), data


def test_working_tree_scan() -> None:
    findings, data = _parse("scan.txt")
    assert sniff(data, "scan.txt").name == "git-secrets"
    assert [(f.path, f.location.start_line, f.rule_id) for f in findings] == [
        ("config/settings.py", 3, "aws-access-key-id"),
        ("config/settings.py", 4, "aws-secret-access-key"),
        ("config/settings.py", 5, "aws-account-id"),
        ("deploy/id_rsa", 1, "private-key"),
    ]
    for f in findings:
        assert f.category is Category.SECRET and f.severity is Severity.HIGH
        assert f.secret is not None and f.location_key == f"secret:{f.secret.sha256}"
        assert "commit" not in f.properties
        assert f.secret.masked in f.title
    assert "AKIAQ7XK2M9PLR4TZW3N" not in repr(findings)
    assert_valid_asff(findings)


def test_history_scan_keeps_one_finding_per_value_and_file() -> None:
    findings, data = _parse("scan-history.txt")
    assert sniff(data, "scan-history.txt").name == "git-secrets"
    # 16 match lines: 5 lines x 3 commits + old-creds.yml once -> 6 distinct (file, line text).
    assert len(findings) == 6
    first = findings[0]
    assert first.rule_id == "aws-access-key-id" and first.properties["commit"] == SHA
    assert first.properties["occurrences"] == "3"
    assert len(first.properties["commits"].split()) == 3
    removed = [f for f in findings if f.path == "old-creds.yml"]
    assert len(removed) == 1 and removed[0].properties["commit"].startswith("272ad144")
    assert {f.rule_id for f in findings if f.path == "deploy/id_rsa"} == {"private-key"}
    assert_valid_asff(findings)


def test_same_value_keeps_its_identity_across_line_shifts_and_commits() -> None:
    (tree,) = FMT.parse(b"./a.env:3:KEY=AKIAZ3PW8QN4HT6LX2RV\n", "a")
    (moved,) = FMT.parse(f"{SHA}:a.env:17:KEY=AKIAZ3PW8QN4HT6LX2RV\n".encode(), "b")
    assert tree.fingerprint() == moved.fingerprint()


def test_rule_inference() -> None:
    assert classify('x = "ASIAABCDEFGHIJKLMNOP"')[0] == "aws-access-key-id"
    assert classify("AWS_SECRET_ACCESS_KEY=" + "a" * 40)[0] == "aws-secret-access-key"
    assert classify("aws_account_id: 1234-5678-9012")[0] == "aws-account-id"
    assert classify("-----BEGIN EC PRIVATE KEY-----")[0] == "private-key"
    assert classify("password = hunter2hunter2")[0] == "prohibited-pattern"


def test_footer_only_and_empty_outputs_are_clean_reports() -> None:
    assert FMT.parse(b"", "empty.txt") == []
    footer = (FOLDER / "scan.txt").read_bytes().split(b"\n\n", 1)[1]
    assert FMT.parse(footer, "footer.txt") == []


@pytest.mark.parametrize("bad", [
    b'{"results": []}',
    b"[1, 2]",
    b"just some text\n",
    b"config/settings.py:3:ok\nnot a match line\n",
    b"\xff\xfe\x00garbage",
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.txt")
    assert "broken.txt" in str(err.value)


def test_errors_never_quote_report_lines() -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(b"a:1:x\nKEY=AKIAZ3PW8QN4HT6LX2RV oops\n", "leaky.txt")
    assert "AKIA" not in str(err.value)


@pytest.mark.parametrize("text", [
    b'{"a": "b:1:c"}',
    b"src/main.c:12:5: warning: unused variable\n",
    b"[ERROR] Matched one or more prohibited patterns\n",
    b"",
])
def test_sniffer_does_not_claim_other_documents(text: bytes) -> None:
    assert not FMT.sniff(Document(text))
