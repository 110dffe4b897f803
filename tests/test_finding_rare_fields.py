"""A Finding's seven rarely set fields held together in one slot (`model.rarefields`,
fourteenth round): every reader must get what the former frozen slotted dataclass gave, for
any field values. The former class is made here as it was (`make_dataclass` with the same
fields, `frozen=True, slots=True`) and compared on equality, `repr`, `asdict`, the pickled
bytes, copies, `replace`, the model's own copies (`model.slots`) and the scan cache's JSON."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from secpipe.model import Category, Finding, Secret, Severity, slots
from secpipe.model import finding as finding_module
from secpipe.model.finding import Location, Resource, Vulnerability
from secpipe.model.rarefields import NO_RARE, RARE, SLOT
from secpipe.scancache import store

FIELDS = dataclasses.fields(Finding)


def _former_class() -> type:
    """The Finding as `@dataclass(frozen=True, slots=True)` made it before this round."""
    spec = []
    for f in FIELDS:
        if f.default_factory is not dataclasses.MISSING:
            spec.append((f.name, f.type, dataclasses.field(default_factory=f.default_factory)))
        elif f.default is not dataclasses.MISSING:
            spec.append((f.name, f.type, dataclasses.field(default=f.default)))
        else:
            spec.append((f.name, f.type))
    former = dataclasses.make_dataclass("Finding", spec, frozen=True, slots=True,
                                        bases=(finding_module._FingerprintSlot,))
    former.__module__ = finding_module.__name__
    return former


Former = _former_class()

_text = st.text(max_size=12)
_opt_text = st.none() | _text
_texts = st.lists(_text, max_size=3).map(tuple) | st.just([])   # a list: kept as given
_vulns = st.lists(st.builds(Vulnerability, id=_text, package=_opt_text,
                            aliases=st.lists(_text, max_size=2).map(tuple)),
                  max_size=2).map(tuple)
_values: dict[str, Any] = {
    "tool": _text, "rule_id": _text, "title": _text,
    "severity": st.sampled_from(list(Severity)), "description": _text,
    "category": st.sampled_from(list(Category)), "severity_original": _opt_text,
    "location": st.none() | st.builds(Location, path=_text,
                                      start_line=st.none() | st.integers(0, 1000)),
    "resource": st.none() | st.builds(Resource, type=_text, id=_text),
    "remediation": _opt_text, "remediation_url": _opt_text, "references": _texts,
    "cwe": _texts, "vulnerabilities": _vulns | st.just([]),
    "secret": st.none() | st.builds(Secret, sha256=_text, masked=_text),
    "location_key": _opt_text,
    "confidence": st.none() | st.integers(-1, 100) | st.booleans() | st.just(1.0),
    "properties": st.dictionaries(_text, _text, max_size=3), "types": _texts,
    "first_observed_at": _opt_text, "last_observed_at": _opt_text, "issue_key": _opt_text,
    "related": _texts,
}
# most findings leave the rare fields at their defaults: draw those often
_rare_default = {"remediation_url": None, "vulnerabilities": (), "confidence": None,
                 "types": (), "first_observed_at": None, "last_observed_at": None,
                 "related": ()}
_kwargs = st.fixed_dictionaries({
    name: (st.just(_rare_default[name]) | value) if name in _rare_default else value
    for name, value in _values.items()})


class _FormerView:
    """A former finding to the writers, which read the rare fields in `finding.rare`."""

    def __init__(self, former: Any) -> None:
        self.former = former
        self.rare = SimpleNamespace(**{name: getattr(former, name) for name in RARE})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.former, name)


def _all_default(kwargs: dict[str, Any]) -> bool:
    """Whether each rare field is given its default object (None or the one empty tuple)."""
    return all(kwargs[name] is default for name, default in _rare_default.items())


def _pickled_as_former(obj: Any) -> bytes:
    """`obj` (a Former) pickled as the former class pickled: named as the model's Finding."""
    real = finding_module.Finding
    finding_module.Finding = Former   # type: ignore[misc]
    try:
        return pickle.dumps(obj)
    finally:
        finding_module.Finding = real   # type: ignore[misc]


def test_the_rare_fields_are_the_seven_in_one_slot() -> None:
    assert RARE == ("remediation_url", "vulnerabilities", "confidence", "types",
                    "first_observed_at", "last_observed_at", "related")
    assert SLOT in Finding.__slots__ and not set(RARE) & set(Finding.__slots__)
    assert [f.name for f in FIELDS] == [f.name for f in dataclasses.fields(Former)]
    f = Finding(tool="t", rule_id="r", title="x", severity=Severity.LOW)
    assert slots.HELD_RARE(f) is NO_RARE
    if sys.implementation.name == "cpython":
        assert sys.getsizeof(f) == sys.getsizeof(Former("t", "r", "x", Severity.LOW)) - 48


@settings(max_examples=300, deadline=None)
@given(_kwargs)
def test_a_finding_reads_as_the_former_dataclass(kwargs: dict[str, Any]) -> None:
    new, old = Finding(**kwargs), Former(**kwargs)
    for f in FIELDS:
        assert getattr(new, f.name) is getattr(old, f.name)   # the objects given, kept
    assert repr(new) == repr(old)
    assert dataclasses.asdict(new) == dataclasses.asdict(old)
    assert dataclasses.astuple(new) == dataclasses.astuple(old)
    assert new.__getstate__() == old.__getstate__()   # type: ignore[attr-defined]
    assert pickle.dumps(new) == _pickled_as_former(old)
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(new, proto))
        assert back == new and repr(back) == repr(new)
    assert copy.copy(new) == new and repr(copy.deepcopy(new)) == repr(new)
    assert new == Finding(**kwargs) and not new != Finding(**kwargs)
    assert slots.finding(**kwargs) == new
    assert repr(slots.finding(**kwargs)) == repr(new)
    assert Finding(*[kwargs[f.name] for f in FIELDS]) == new   # positional, as before
    with pytest.raises(dataclasses.FrozenInstanceError):
        new.types = ()   # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del new.related   # type: ignore[misc]


@settings(max_examples=200, deadline=None)
@given(_kwargs, _kwargs, st.sampled_from([f.name for f in FIELDS]))
def test_replace_and_equality_as_the_former(a: dict[str, Any], b: dict[str, Any],
                                            name: str) -> None:
    new, old = Finding(**a), Former(**a)
    changed_new = dataclasses.replace(new, **{name: b[name]})
    changed_old = dataclasses.replace(old, **{name: b[name]})
    assert repr(changed_new) == repr(changed_old)
    assert (changed_new == new) == (changed_old == old)
    assert (Finding(**b) == new) == (Former(**b) == old)
    assert new.with_(**{name: b[name]}) == changed_new
    try:
        expected: Any = hash(old) == hash(changed_old)
    except TypeError as exc:   # a dict or list among the fields: unhashable, as before
        with pytest.raises(TypeError, match=str(exc).split(":")[0]):
            hash(new)
    else:
        assert (hash(new) == hash(changed_new)) == expected and hash(new) == hash(old)


@settings(max_examples=200, deadline=None)
@given(_kwargs, _texts, _opt_text)
def test_the_correlations_copies_and_changes(kwargs: dict[str, Any], related: Any,
                                             key: str | None) -> None:
    new = Finding(**kwargs)
    copied = slots.with_issue(new, key, related)
    expected = Former(**{**kwargs, "issue_key": key, "related": related})
    assert repr(copied) == repr(expected) and copied.related is related
    assert (slots.HELD_RARE(new) is NO_RARE) == _all_default(kwargs)
    slots.RELATED(new, related)   # in place, as the correlation does
    assert repr(new) == repr(Former(**{**kwargs, "related": related}))
    assert new.related is related


@settings(max_examples=200, deadline=None)
@given(_kwargs)
def test_the_scan_caches_json_as_the_former(kwargs: dict[str, Any]) -> None:
    kwargs = {**kwargs, "first_observed_at": None, "last_observed_at": None}   # not kept
    kwargs = {k: tuple(v) if type(v) is list else v for k, v in kwargs.items()}   # JSON's
    new, old = Finding(**kwargs), Former(**kwargs)
    as_json = store.finding_to_json(new)
    assert as_json == store.finding_to_json(_FormerView(old))   # type: ignore[arg-type]
    back = store.finding_from_json(as_json)
    assert repr(back) == repr(old) and back == new
    assert (slots.HELD_RARE(back) is NO_RARE) == (slots.HELD_RARE(new) is NO_RARE) \
        == _all_default(kwargs)


@settings(max_examples=200, deadline=None)
@given(_kwargs)
def test_asff_reads_the_rare_fields_as_the_former(kwargs: dict[str, Any]) -> None:
    """`to_asff` reads the seven in `finding.rare`: the document it makes of a finding is the
    one it makes of the former dataclass (read field by field through the view)."""
    from secpipe.model import SourceContext
    from secpipe.model.asff import to_asff

    kwargs = {**kwargs, "confidence": kwargs["confidence"] if kwargs["confidence"] is None
              or isinstance(kwargs["confidence"], (int, float)) else None}
    new, old = Finding(**kwargs), Former(**kwargs)
    ctx = SourceContext(repo="r", run_id="x", observed_at="2026-01-01T00:00:00.000Z")
    view = _FormerView(old)
    view.fingerprint = new.fingerprint   # type: ignore[attr-defined]
    view.effective_location_key = new.effective_location_key   # type: ignore[attr-defined]
    assert to_asff(new, ctx) == to_asff(view, ctx)   # type: ignore[arg-type]
