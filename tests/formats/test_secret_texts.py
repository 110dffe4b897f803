"""Secret findings' titles and descriptions are made from the finding when read
(`_secrets.SecretText`, `model.derived`): every secrets parser must give the findings, texts
and copies it gave when it held the texts (`_former_secret_finding`: the former code, frozen
here)."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest

from secpipe.formats import (
    _secrets, detect_secrets, get_format, git_secrets, gitleaks, kingfisher, trufflehog, trufflehog3,
)
from secpipe.formats._common import shared, shared_mapping
from secpipe.model import Category, Finding, Location, Severity, keyed
from secpipe.model.derived import DerivedText, held
from secpipe.model.slots import with_issue
from tests.formats.fixture_reports import KEY, parse_or_error, reports_of

FOLDERS = {
    "trufflehog3": ("trufflehog3",), "detect-secrets": ("detect-secrets", "detect_secrets"),
    "git-secrets": ("git-secrets",), "gitleaks": ("gitleaks",), "trufflehog": ("trufflehog",),
    "kingfisher": ("kingfisher",),
}
HELD_TITLE, HELD_DESCRIPTION = held(Finding, "title"), held(Finding, "description")
HELD_LOCATION_KEY = held(Finding, "location_key")


PARSERS = (detect_secrets, git_secrets, gitleaks, kingfisher, trufflehog, trufflehog3)


def _former_secret_finding(*, tool, rule_id, kind, path, secret, line=None, end_line=None,
                           severity=Severity.HIGH, severity_original=None, location_key=None,
                           properties=None, note="", share_properties=False,
                           unique=frozenset(), key_prefix="secret:"):
    """`_secrets.secret_finding` as it was when findings held their texts (detect-secrets gave
    `location_key=f"secret-sha1:{secret.sha256}"`, now `key_prefix="secret-sha1:"`)."""
    shown = secret.masked if secret is not None else "value redacted by the tool"
    props = {k: v if k in unique else shared(v) for k, v in (properties or {}).items() if v}
    if share_properties:
        props = shared_mapping(props)
    path, rule_id = shared(path), shared(rule_id)
    if severity_original is not None:
        severity_original = shared(severity_original)
    where = path + (f" line {line}" if line else "")
    commit = props.get("commit", "")
    if commit:
        where += f" (commit {commit[:12]})"
    description = (
        f"{tool} found a secret ({kind}) in {where}: {shown}."
    )
    if secret is not None:
        description += " The value is kept only as a hash and this masked form."
    if note:
        description += " " + note
    return Finding(
        tool=tool, rule_id=rule_id, title=f"{kind} in {path}: {shown}", description=description,
        severity=severity, severity_original=severity_original, category=Category.SECRET,
        location=Location(path=path, start_line=line, end_line=end_line or line),
        remediation=_secrets.REMEDIATION, references=_secrets.REFERENCES, cwe=_secrets.CWE,
        secret=secret,
        location_key=location_key or (f"{key_prefix}{secret.sha256}" if secret is not None
                                      else None),
        properties=props,
    )


def _held_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    for parser in PARSERS:
        monkeypatch.setattr(parser, "secret_finding", _former_secret_finding)


def _reports(tool: str) -> list[Path]:
    return reports_of(tool, *FOLDERS[tool])


def _parse(tool: str, path: Path) -> list:
    return parse_or_error(tool, path)


def _texts(findings: list) -> list:
    return [(type(f.title), f.title, type(f.description), f.description)
            for f in findings if isinstance(f, Finding)]


@pytest.mark.parametrize("tool", sorted(FOLDERS))
def test_derived_texts_read_as_the_held_ones(tool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reports = _reports(tool)
    derived = {path.name: _parse(tool, path) for path in reports}
    _held_texts(monkeypatch)
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
            assert copy.location_key == former.location_key
            assert type(former.location_key) in (str, type(None))
            if finding.secret is not None and former.location_key == (
                    f"{former.location_key.split(':', 1)[0]}:{finding.secret.sha256}"):
                # a key made of the secret's digest is made when read, and a copy shares it
                assert isinstance(HELD_LOCATION_KEY(finding), _secrets.SecretKey)
                assert HELD_LOCATION_KEY(copy) is HELD_LOCATION_KEY(finding)
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
    _held_texts(monkeypatch)
    with keyed(KEY):
        (former,) = get_format("trufflehog3").parse(report, "t")
    assert isinstance(HELD_TITLE(merged), DerivedText)
    assert type(HELD_DESCRIPTION(merged)) is str      # its own: the count is added
    assert merged == former and merged.title == former.title
    assert merged.description.endswith("Reported 2 times in this report across 2 commits.")


def test_a_held_key_text_and_its_derived_key_are_one_leak() -> None:
    """`merge_repeats` groups a finding holding its key as text (a cache hit's, read without
    sharing) with one holding the derived key of the same text, as it grouped equal texts."""
    from secpipe.model import FingerprintKey, Secret
    from secpipe.model.slots import HELD_LOCATION_KEY, LOCATION_KEY

    with keyed(FingerprintKey.ephemeral()):
        made = [_secrets.secret_finding(tool="kingfisher", rule_id="aws", kind="AWS", path="a.js",
                                        line=i + 1, secret=Secret.from_value("AKIA" + "Q" * 16))
                for i in range(2)]
    LOCATION_KEY(made[1], made[1].location_key)   # as text
    assert type(HELD_LOCATION_KEY(made[1])) is str
    merged = _secrets.merge_repeats(made)
    assert len(merged) == 1 and merged[0].properties["occurrences"] == "2"
