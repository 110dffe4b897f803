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

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

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


@lru_cache(maxsize=262144)
def parse(rules: type[uv.Version], text: str) -> uv.Version | None:
    """A parsed version, or None when the rules cannot read it (cached: advisories repeat
    the same boundaries over and over)."""
    text = text.strip()
    if rules is uv.SemverVersion and text[:1] in ("v", "V"):
        text = text[1:]
    if not text:
        return None
    try:
        return rules(text)
    except Exception:  # noqa: BLE001 - univers raises several types for unreadable versions
        return None


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
        if isinstance(event, Mapping):
            for kind in _EVENT_ORDER:
                if isinstance(event.get(kind), str):
                    out.append((kind, event[kind]))
                    break
    return out


def _key(rules: type[uv.Version], kind: str, value: str) -> tuple[int, Any] | None:
    if kind == "introduced" and value == "0":
        return (0, None)
    if kind == "limit" and "*" in value:
        return (2, None)
    parsed = parse(rules, value)
    return None if parsed is None else (1, parsed)


def _below(a: tuple[int, Any], b: tuple[int, Any]) -> bool:
    if a[0] != b[0]:
        return a[0] < b[0]
    return a[0] == 1 and a[1] < b[1]


def _sort_key(item: tuple[tuple[int, Any], str, str]) -> Any:
    return _Sortable(item)


class _Sortable:
    """Order (key, kind, value) triples by version, then event kind (introduced first)."""

    __slots__ = ("item",)

    def __init__(self, item: tuple[tuple[int, Any], str, str]) -> None:
        self.item = item

    def __lt__(self, other: "_Sortable") -> bool:
        (ka, kind_a, _), (kb, kind_b, _) = self.item, other.item
        if _below(ka, kb):
            return True
        if _below(kb, ka):
            return False
        return _EVENT_ORDER[kind_a] < _EVENT_ORDER[kind_b]


def evaluate_range(version: uv.Version, rng: Mapping[str, Any], rules: type[uv.Version]
                   ) -> Verdict | None:
    """The verdict of one SEMVER/ECOSYSTEM range; None when an event cannot be parsed."""
    keyed = []
    for kind, value in _events(rng):
        key = _key(rules, kind, value)
        if key is None:
            return None
        keyed.append((key, kind, value))
    keyed.sort(key=_sort_key)
    here = (1, version)
    limits = [k for k, kind, _ in keyed if kind == "limit"]
    if limits and not any(_below(here, k) for k in limits):
        return Verdict(False)
    vulnerable, last_index = False, -1
    for index, (key, kind, _) in enumerate(keyed):
        if kind == "introduced" and not _below(here, key):
            vulnerable, last_index = True, index
        elif kind == "fixed" and not _below(here, key):
            vulnerable = False
        elif kind == "last_affected" and _below(key, here):
            vulnerable = False
    if not vulnerable:
        return Verdict(False)
    # the span the version is in ends at the first fixed/last_affected after its introduction
    for key, kind, value in keyed[last_index + 1:]:
        if kind == "fixed":
            return Verdict(True, fixed=(value,), how="range")
        if kind == "last_affected":
            return Verdict(True, last_affected=value, how="range")
        if kind == "introduced":
            continue
    return Verdict(True, how="range")


def is_affected(base: str, version: str, ranges: Sequence[Mapping[str, Any]],
                versions: Iterable[str]) -> Verdict:
    """OSV's IsVulnerable for one `affected[]` entry and one package version."""
    listed = [v for v in versions if isinstance(v, str)]
    in_list = version in listed
    if not in_list and listed and (rules := _ECOSYSTEM_RULES.get(base)) is not None:
        mine = parse(rules, version)
        in_list = mine is not None and any(parse(rules, v) == mine for v in listed)
    fixes: list[str] = []
    last = ""
    comparable = True
    affected_by_range = False
    for rng in ranges:
        if not isinstance(rng, Mapping):
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
        if verdict.affected:
            affected_by_range = True
            fixes.extend(verdict.fixed)
            last = last or verdict.last_affected
    if in_list or affected_by_range:
        return Verdict(True, fixed=tuple(dict.fromkeys(fixes)), last_affected=last,
                       comparable=comparable, how="range" if affected_by_range else "versions")
    return Verdict(False, comparable=comparable)
