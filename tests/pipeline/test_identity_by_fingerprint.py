"""assign_identities groups by fingerprint (identity.py): the same findings, in the same order,
with the same fingerprints, as the grouping by identity text it replaced (kept here)."""

from __future__ import annotations

from typing import Sequence

import pytest
from hypothesis import given, settings, strategies as st

from secpipe.model import Finding, Location, Secret, Severity
from secpipe.model.finding import identity_digest
from secpipe.pipeline import identity
from secpipe.pipeline.identity import assign_identities


def _by_text(findings: Sequence[Finding]) -> list[Finding]:
    """The former assign_identities: grouped by identity text."""
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.identity_key(), []).append(f)
    out: list[Finding] = []
    for key, members in groups.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        if members[0].secret is not None:
            out.append(members[0])
            continue
        seen_lines: set[int] = set()
        ordinal = 0
        for f in sorted(members, key=identity._line):
            if identity._line(f) in seen_lines:
                continue
            seen_lines.add(identity._line(f))
            ordinal += 1
            if ordinal == 1:
                out.append(f)
            else:
                out.append(f.with_(location_key=f"{f.location_key or ''}#{ordinal}"))
    return out


def _finding(rule: int, path: int, line: int | None, key: int | None, secret: int | None,
             snippet: int | None) -> Finding:
    return Finding(
        tool="t", rule_id=f"R{rule}", title="x", severity=Severity.LOW,
        location=Location(f"p{path}", line, line, None if snippet is None else f"s {snippet}"),
        location_key=None if key is None else f"k{key}",
        secret=None if secret is None else Secret.from_digest(f"{secret:064x}"))


_findings = st.lists(st.builds(
    _finding, st.integers(0, 2), st.integers(0, 2), st.one_of(st.none(), st.integers(0, 4)),
    st.one_of(st.none(), st.integers(0, 2)), st.one_of(st.none(), st.integers(0, 2)),
    st.one_of(st.none(), st.integers(0, 1))), max_size=30)


@settings(max_examples=300, deadline=None)
@given(_findings, st.data())
def test_same_findings_order_and_fingerprints_as_by_text(findings: list[Finding], data) -> None:
    # the same object twice, too (a repeat of the very finding)
    if findings and data.draw(st.booleans()):
        findings.append(findings[data.draw(st.integers(0, len(findings) - 1))])
    old = _by_text(findings)
    new = assign_identities(findings)
    assert new == old
    assert [type(f) for f in new] == [type(f) for f in old]
    assert [f.fingerprint() for f in new] == [f.fingerprint() for f in old]
    # a finding alone with its identity holds its fingerprint already
    for f in new:
        try:
            held = f._fingerprint
        except AttributeError:
            continue
        assert held == identity_digest(f.identity_key())


def test_colliding_fingerprints_are_still_two_identities(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two texts whose digests collide stay two groups (split by text), each findings'
    own result."""
    monkeypatch.setattr(identity, "identity_digest", lambda text: "0" * 32)
    a1 = _finding(0, 0, 3, None, None, None)
    a2 = _finding(0, 0, 7, None, None, None)
    b = _finding(1, 0, 3, None, None, None)
    out = assign_identities([a1, b, a2])
    assert out[0] is a1 and out[1].location_key == "#2" and out[2] is b
    assert len({f.identity_key() for f in out}) == 3
