"""OSV's affected-range evaluation, with each ecosystem's own version ordering (via univers).

The algorithm is the schema's `IsVulnerable` (OSV schema, "Evaluation"): a version is affected
if it is listed in `versions`, or if in some SEMVER/ECOSYSTEM range, walking the events sorted
by version ("0" first), the last applicable event is an `introduced` (`fixed` at or below it
and `last_affected` strictly below it end the affected span), and it sits below one of the
range's `limit`s when there are any. GIT ranges name commits, which a package version cannot
be placed among: they are skipped (OSV records carrying them also enumerate `versions`).

A version that the ecosystem's rules cannot parse is never silently "not affected": the caller
gets `comparable=False` and reports that only the explicit version list could be checked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

from univers import debian
from univers import versions as uv

_ECOSYSTEM_RULES: dict[str, type[uv.Version]] = {
    "npm": uv.SemverVersion,
    "pypi": uv.PypiVersion,
    "go": uv.SemverVersion,
    "maven": uv.MavenVersion,
    "debian": uv.DebianVersion,
    "ubuntu": uv.DebianVersion,
    "alpine": uv.AlpineLinuxVersion,
    "crates.io": uv.SemverVersion,
    "rubygems": uv.RubygemsVersion,
    "nuget": uv.NugetVersion,
    "packagist": uv.ComposerVersion,
    "hex": uv.SemverVersion,
    "pub": uv.SemverVersion,
}
_EVENT_ORDER = {"introduced": 0, "fixed": 1, "last_affected": 2, "limit": 3}


def rules_for(base: str, range_type: str) -> type[uv.Version] | None:
    """The version class ordering a range: SEMVER ranges are SemVer 2.0 whatever the
    ecosystem; ECOSYSTEM ranges use the ecosystem's rules; None when unknown (or GIT)."""
    kind = range_type.upper()
    if kind == "SEMVER":
        return uv.SemverVersion
    if kind == "ECOSYSTEM":
        return _ECOSYSTEM_RULES.get(base)
    return None


def supported(base: str) -> bool:
    return base in _ECOSYSTEM_RULES


# univers orders these classes by their parsed `value` alone (attrs-generated comparisons);
# comparing the values directly gives the same order without attrs' per-call tuple building.
# Gentoo/Alpine define their own comparisons and are compared as univers objects.
_BY_VALUE = frozenset({uv.SemverVersion, uv.PypiVersion, uv.DebianVersion, uv.MavenVersion,
                       uv.RubygemsVersion, uv.NugetVersion, uv.ComposerVersion})


_DEB_ORDER = debian.characters_order  # univers' dpkg character weights ("~" < "" < letters)
_DEB_END = _DEB_ORDER[""]
_DEB_PARTS = re.compile(r"(\D*)(\d*)")


def _debian_part_key(part: str) -> tuple[Any, ...]:
    """dpkg's string comparison (univers' `compare_strings`) as a sort key.

    Each (non-digit run, digit run) pair becomes (weights..., END) + number; missing
    characters weigh END, as univers' zip_longest fill does, and a final (END,) element
    stands for the exhausted string, so a trailing "~" part sorts below it."""
    key: list[Any] = []
    for letters, digits in _DEB_PARTS.findall(part):
        if not letters and not digits:
            continue
        key.append((tuple(_DEB_ORDER[c] for c in letters) + (_DEB_END,), int(digits or 0)))
    key.append(((_DEB_END,), 0))
    return tuple(key)


def _debian_key(value: debian.Version) -> tuple[Any, ...]:
    """A tuple ordering exactly like univers' Debian comparison, without its per-character
    debug logging (matching images compares Debian versions tens of thousands of times)."""
    return (int(value.epoch), _debian_part_key(str(value.upstream)),
            _debian_part_key(str(value.revision)))


@lru_cache(maxsize=262144)
def parse(rules: type[uv.Version], text: str) -> Any:
    """A comparable parsed version, or None when the rules cannot read it (cached: advisories
    repeat the same boundaries over and over)."""
    text = text.strip()
    if rules is uv.SemverVersion and text[:1] in ("v", "V"):
        text = text[1:]
    if not text:
        return None
    try:
        parsed = rules(text)
    except Exception:  # noqa: BLE001 - univers raises several types for unreadable versions
        return None
    if rules is uv.DebianVersion:
        return _debian_key(parsed.value)
    return parsed.value if rules in _BY_VALUE else parsed


@dataclass(frozen=True, slots=True)
class Verdict:
    affected: bool
    fixed: tuple[str, ...] = ()        # the fix(es) for the span the version is in
    last_affected: str = ""            # when the span ends in last_affected, not a fix
    comparable: bool = True            # False: ranges could not be evaluated for this version
    how: str = ""                      # "versions" or "range" (for the report)


def _events(rng: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for event in rng.get("events") or []:
        if isinstance(event, dict):  # records come from JSON: dicts (and it is a hot path)
            for kind in _EVENT_ORDER:
                value = event.get(kind)
                if value.__class__ is str:
                    out.append((kind, value))
                    break
    return out


def _key(rules: type[uv.Version], kind: str, value: str) -> tuple[int, Any] | None:
    """(tier, version): "0" introduced sorts first, a "*" limit last. Compared as plain
    tuples (equal tiers 0/2 hold None on both sides, which only needs ==)."""
    if kind == "introduced" and value == "0":
        return (0, None)
    if kind == "limit" and "*" in value:
        return (2, None)
    parsed = parse(rules, value)
    return None if parsed is None else (1, parsed)


def _order(event: tuple[tuple[int, Any], int, str, str]) -> tuple[tuple[int, Any], int]:
    return event[0], event[1]  # by version, then introduced < fixed < last_affected < limit


def evaluate_range(version: Any, rng: Mapping[str, Any], rules: type[uv.Version]
                   ) -> Verdict | None:
    """The verdict of one SEMVER/ECOSYSTEM range; None when an event cannot be parsed."""
    keyed = []
    for kind, value in _events(rng):
        key = _key(rules, kind, value)
        if key is None:
            return None
        keyed.append((key, _EVENT_ORDER[kind], kind, value))
    keyed.sort(key=_order)
    here = (1, version)
    limits = [k for k, _, kind, _ in keyed if kind == "limit"]
    if limits and not any(here < k for k in limits):
        return Verdict(False)
    vulnerable, last_index = False, -1
    for index, (key, _, kind, _) in enumerate(keyed):
        if kind == "introduced":
            if not here < key:
                vulnerable, last_index = True, index
        elif kind == "fixed":
            if not here < key:
                vulnerable = False
        elif kind == "last_affected" and key < here:
            vulnerable = False
    if not vulnerable:
        return Verdict(False)
    # the span the version is in ends at the first fixed/last_affected after its introduction
    for _, _, kind, value in keyed[last_index + 1:]:
        if kind == "fixed":
            return Verdict(True, fixed=(value,), how="range")
        if kind == "last_affected":
            return Verdict(True, last_affected=value, how="range")
    return Verdict(True, how="range")


def _listed(base: str, version: str, versions: str | Iterable[str], exact_only: bool) -> bool:
    """Whether `version` is in the explicit list: exactly as written, or — when the list is
    what decides (no comparable range) — equal under the ecosystem's rules ("2.10" ==
    "2.10.0" in PEP 440). `versions` may be the stored JSON text, decoded only if needed."""
    if isinstance(versions, str):
        if versions in ("", "[]"):
            return False
        if json.dumps(version) in versions:  # cheap exact test on the raw JSON first
            return True
        if exact_only:
            return False
        versions = json.loads(versions)
    listed = [v for v in versions if v.__class__ is str]
    if version in listed:
        return True
    rules = _ECOSYSTEM_RULES.get(base)
    if exact_only or not listed or rules is None:
        return False
    mine = parse(rules, version)
    return mine is not None and any(parse(rules, v) == mine for v in listed)


def is_affected(base: str, version: str, ranges: Sequence[Mapping[str, Any]],
                versions: str | Iterable[str]) -> Verdict:
    """OSV's IsVulnerable for one `affected[]` entry and one package version."""
    fixes: list[str] = []
    last = ""
    comparable = True
    evaluated = False
    affected_by_range = False
    for rng in ranges:
        if not isinstance(rng, dict):
            continue
        rules = rules_for(base, str(rng.get("type", "")))
        if rules is None:
            if str(rng.get("type", "")).upper() != "GIT":
                comparable = False
            continue
        mine = parse(rules, version)
        if mine is None:
            comparable = False
            continue
        verdict = evaluate_range(mine, rng, rules)
        if verdict is None:
            comparable = False
            continue
        evaluated = True
        if verdict.affected:
            affected_by_range = True
            fixes.extend(verdict.fixed)
            last = last or verdict.last_affected
    if affected_by_range:
        return Verdict(True, fixed=tuple(dict.fromkeys(fixes)), last_affected=last,
                       comparable=comparable, how="range")
    if _listed(base, version, versions, exact_only=evaluated and comparable):
        return Verdict(True, comparable=comparable, how="versions")
    return Verdict(False, comparable=comparable)
