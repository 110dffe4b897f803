"""store.finding_from_json builds a Finding without its keyword __init__: the same Finding
(fields, repr, pickled state) as the dataclass's __init__ gives, for any cached finding."""

from __future__ import annotations

import pickle
from typing import Any, Mapping

from hypothesis import given, settings, strategies as st

from secpipe.model import Category, Finding, Location, Resource, Secret, Severity
from secpipe.scancache import store

_text = st.text(max_size=12)
_opt = st.none() | _text
_strs = st.lists(_text, max_size=3)


def _by_init(d: Mapping[str, Any]) -> Finding:
    """The keyword __init__ path finding_from_json replaced (the reference)."""
    loc, res, sec = d["location"], d["resource"], d["secret"]
    return Finding(
        tool=d["tool"], rule_id=d["rule_id"], title=d["title"],
        severity=Severity(d["severity"]), description=d["description"],
        category=Category(d["category"]), severity_original=d["severity_original"],
        location=None if loc is None else Location(loc[0], loc[1], loc[2], loc[3]),
        resource=None if res is None else Resource(res[0], res[1], dict(res[2])),
        remediation=d["remediation"], remediation_url=d["remediation_url"],
        references=tuple(d["references"]), cwe=tuple(d["cwe"]),
        vulnerabilities=tuple(store._vuln_from_json(v) for v in d["vulnerabilities"]),
        secret=None if sec is None else Secret(sha256=sec[0], masked=sec[1]),
        location_key=d["location_key"], confidence=d["confidence"],
        properties=dict(d["properties"]), types=tuple(d["types"]),
        issue_key=d["issue_key"], related=tuple(d["related"]))


_vuln = st.fixed_dictionaries({
    "id": _text, "package": _opt, "version": _opt, "fixed_version": _opt, "aliases": _strs,
    "cvss_score": st.none() | st.floats(0, 10), "cvss_vector": _opt, "urls": _strs})
_cached = st.fixed_dictionaries({
    "tool": _text, "rule_id": _text, "title": _text,
    "severity": st.sampled_from([int(s) for s in Severity]), "description": _text,
    "category": st.sampled_from([c.value for c in Category]), "severity_original": _opt,
    "location": st.none() | st.tuples(_text, st.none() | st.integers(0, 9999),
                                      st.none() | st.integers(0, 9999), _opt).map(list),
    "resource": st.none() | st.tuples(_text, _text, st.dictionaries(_text, _text, max_size=2)
                                      ).map(list),
    "remediation": _opt, "remediation_url": _opt, "references": _strs, "cwe": _strs,
    "vulnerabilities": st.lists(_vuln, max_size=2),
    "secret": st.none() | st.tuples(_text, _text).map(list),
    "location_key": _opt, "confidence": st.none() | st.integers(0, 10),
    "properties": st.dictionaries(_text, _text, max_size=3), "types": _strs,
    "issue_key": _opt, "related": _strs})


@settings(max_examples=300, deadline=None)
@given(_cached)
def test_finding_from_json_is_the_keyword_init(d: dict[str, Any]) -> None:
    got, want = store.finding_from_json(d), _by_init(d)
    assert got == want
    assert repr(got) == repr(want)
    assert pickle.dumps(got) == pickle.dumps(want)
    assert got.fingerprint() == want.fingerprint()
    assert store.finding_to_json(got) == store.finding_to_json(want)


def test_a_bad_severity_or_category_is_still_refused() -> None:
    d = store.finding_to_json(Finding(tool="t", rule_id="r", title="x", severity=Severity.LOW))
    for field, bad in (("severity", 9), ("category", "nonsense")):
        try:
            store.finding_from_json({**d, field: bad})
        except ValueError:
            continue
        raise AssertionError(f"{field}={bad!r} was accepted")
