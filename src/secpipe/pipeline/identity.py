"""Give every finding of a tool run a distinct, stable identity.

Parsers set `location_key` when their tool offers something stable. When two findings still
share an identity (the same rule twice in one file, no snippet), the later ones in line order get
an ordinal suffix; the first keeps the plain identity, so adding a second occurrence never
renames the first. The same leaked secret in the same file, seen in the tree and in history, is
one finding.

Findings are grouped by their fingerprint (the digest of their identity text), made as each
key is read, not by the text: grouped by text, every finding's identity text (a secret's holds
its 64-hex digest) and a list of one finding were alive at once until the last finding was
read, about 9 MB at trufflehog3's 25,000 findings, at the top of the tools' turns at 50,000
findings (its report, its findings and the hub's opening all alive). The fingerprint is what
a finding alone in its group keeps anyway. A group of several findings (rare) is split again by
their identity texts, so two texts whose digests collide are still two groups, as before; only
their places in the result then follow the first finding of their digest, not of each text.
"""

from __future__ import annotations

from typing import Sequence

from secpipe.model import Finding
from secpipe.model.finding import identity_digest


def _line(f: Finding) -> int:
    return (f.location.start_line or 0) if f.location else 0


def assign_identities(findings: Sequence[Finding]) -> list[Finding]:
    # fingerprint -> the finding alone with it, or (rarely) a list of those sharing it
    groups: dict[str, Finding | list[Finding]] = {}
    for f in findings:
        fingerprint = identity_digest(f.identity_key())
        found = groups.get(fingerprint)
        if found is None:
            groups[fingerprint] = f
        elif type(found) is list:
            found.append(f)
        else:
            groups[fingerprint] = [found, f]
    out: list[Finding] = []
    for fingerprint, members in groups.items():
        if type(members) is not list:
            out.append(members.named_by(fingerprint))
            continue
        by_key: dict[str, list[Finding]] = {}
        for f in members:
            by_key.setdefault(f.identity_key(), []).append(f)
        for same in by_key.values():
            _identified(same, fingerprint, out)
    return out


def _identified(members: list[Finding], fingerprint: str, out: list[Finding]) -> None:
    """The findings of one identity text (`fingerprint` its digest) as they go out."""
    if len(members) == 1:
        out.append(members[0].named_by(fingerprint))
        return
    if members[0].secret is not None:
        out.append(members[0])  # one leaked value per file is one finding
        return
    seen_lines: set[int] = set()
    ordinal = 0
    for f in sorted(members, key=_line):
        if _line(f) in seen_lines:
            continue  # an exact repeat (same place) of a finding already kept
        seen_lines.add(_line(f))
        ordinal += 1
        if ordinal == 1:
            out.append(f)
        else:
            base = f.location_key or ""
            out.append(f.with_(location_key=f"{base}#{ordinal}"))
