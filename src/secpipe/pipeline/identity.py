"""Give every finding of a tool run a distinct, stable identity.

Parsers set `location_key` when their tool offers something stable. When two findings still
share an identity (the same rule twice in one file, no snippet), the later ones in line order get
an ordinal suffix; the first keeps the plain identity, so adding a second occurrence never
renames the first. The same leaked secret in the same file, seen in the tree and in history, is
one finding.
"""

from __future__ import annotations

from typing import Sequence

from secpipe.model import Finding


def _line(f: Finding) -> int:
    return (f.location.start_line or 0) if f.location else 0


def assign_identities(findings: Sequence[Finding]) -> list[Finding]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.identity_key(), []).append(f)
    out: list[Finding] = []
    for key, members in groups.items():
        if len(members) == 1:
            out.append(members[0].named_by(key))
            continue
        if members[0].secret is not None:
            out.append(members[0])  # one leaked value per file is one finding
            continue
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
    return out
