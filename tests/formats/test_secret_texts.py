"""Secret findings' titles and descriptions are made from the finding when read
(`_secrets.SecretText`, `model.derived`): every secrets parser must give the findings, texts
and copies it gave when it held the texts (`_secrets.DERIVE_TEXTS = False`, the former way)."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest

from secpipe.formats import _secrets, get_format
from secpipe.model import Finding, FingerprintKey, keyed
from secpipe.model.derived import DerivedText, held
from secpipe.model.slots import with_issue
from tests.conftest import OWN_FIXTURES, SHARED_FIXTURES

KEY = FingerprintKey(b"k" * 32)
FOLDERS = {
    "trufflehog3": ("trufflehog3",), "detect-secrets": ("detect-secrets", "detect_secrets"),
    "git-secrets": ("git-secrets",), "gitleaks": ("gitleaks",), "trufflehog": ("trufflehog",),
    "kingfisher": ("kingfisher",),
}
HELD_TITLE, HELD_DESCRIPTION = held(Finding, "title"), held(Finding, "description")


def _reports(tool: str) -> list[Path]:
    found = []
    for name in FOLDERS[tool]:
        for root in (OWN_FIXTURES, SHARED_FIXTURES):
            if (root / name).is_dir():
                found += sorted(p for p in (root / name).iterdir() if p.suffix != ".md")
    return found


def _parse(tool: str, path: Path) -> list:
    try:
        with keyed(KEY):
            return list(get_format(tool).parse(path.read_bytes(), path.name))
    except Exception as exc:   # a fixture kept to be refused: both ways refuse it alike
        return [type(exc).__name__, str(exc)]


def _texts(findings: list) -> list:
    return [(type(f.title), f.title, type(f.description), f.description)
            for f in findings if isinstance(f, Finding)]


@pytest.mark.parametrize("tool", sorted(FOLDERS))
def test_derived_texts_read_as_the_held_ones(tool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reports = _reports(tool)
    assert reports, f"no {tool} fixture"
    derived = {path.name: _parse(tool, path) for path in reports}
    monkeypatch.setattr(_secrets, "DERIVE_TEXTS", False)
    for path in reports:
        own = _parse(tool, path)
        got = derived[path.name]
        assert got == own, path
        assert _texts(got) == _texts(own), path
        for finding, former in zip(got, own):
            if not isinstance(finding, Finding):
                continue
            assert repr(finding) == repr(former)
            assert dataclasses.asdict(finding) == dataclasses.asdict(former)
            assert pickle.loads(pickle.dumps(finding)) == former
            copy = with_issue(finding, "issue", ("x",))
            assert (copy.title, copy.description) == (former.title, former.description)
            changed = finding.with_(severity_original="changed")
            assert type(HELD_TITLE(changed)) is str   # `replace` holds the text itself
            assert changed.description == former.description


def _report(*entries: tuple[str, str, str]) -> bytes:
    return json.dumps([
        {"rule": {"id": rule, "message": rule.title(), "severity": "HIGH"}, "path": path,
         "line": "3", "secret": value, "context": {}, "id": "x", "branch": "main",
         "message": "m", "author": "a", "commit": commit, "date": "2024-01-01T00:00:00"}
        for rule, path, value, commit in entries]).encode()


def test_secret_findings_hold_one_shared_text() -> None:
    with keyed(KEY):
        findings = get_format("trufflehog3").parse(_report(
            ("aws", "a.py", "AKIAFAKEKEYFORTESTS2", "c1"), ("aws", "b.py", "AKIAFAKEKEYFORTESTS3", "c1"),
            ("entropy", "b.py", "FAKEfakeFAKEfakeNOTaSECRET", "c2")), "t")
    assert len(findings) == 3
    held_texts = {id(HELD_TITLE(f)) for f in findings} | {id(HELD_DESCRIPTION(f)) for f in findings}
    assert all(isinstance(HELD_TITLE(f), DerivedText) for f in findings)
    assert len(held_texts) == 2    # one per rule, title and description alike
    copy = with_issue(findings[0], "issue", ())
    assert HELD_TITLE(copy) is HELD_TITLE(findings[0])    # a copy through the slots shares it
    assert findings[0].title == "Aws in a.py: AKIA…STS2"


def test_a_merged_finding_keeps_its_title_derived(monkeypatch: pytest.MonkeyPatch) -> None:
    report = _report(("aws", "a.py", "AKIAFAKEKEYFORTESTS2", "c1"),
                     ("aws", "a.py", "AKIAFAKEKEYFORTESTS2", "c2"))
    with keyed(KEY):
        (merged,) = get_format("trufflehog3").parse(report, "t")
    monkeypatch.setattr(_secrets, "DERIVE_TEXTS", False)
    with keyed(KEY):
        (former,) = get_format("trufflehog3").parse(report, "t")
    assert isinstance(HELD_TITLE(merged), DerivedText)
    assert type(HELD_DESCRIPTION(merged)) is str      # its own: the count is added
    assert merged == former and merged.title == former.title
    assert merged.description.endswith("Reported 2 times in this report across 2 commits.")
