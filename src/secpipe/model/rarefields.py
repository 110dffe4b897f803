"""A Finding's rarely set fields, held together in one slot instead of one slot each.

Seven of a Finding's 23 fields are left at their defaults by most findings: the parsers'
`remediation_url`, `vulnerabilities`, `confidence` (dependency and runtime tools), `types`,
`first_observed_at` and `last_observed_at` (runtime alerts), and the correlation's `related`
(set only on a finding whose issue has others). A slot each was 48 bytes a finding (a
Finding is 224 bytes, 176 without them: 2.4 MB at 50,000 findings, alive from the parse to
the run's end; six alone would save only 32: objects are made in steps of 16 bytes). They are
held instead in one slot, `rare`, which holds the one shared :data:`NO_RARE` when all seven
are at their defaults and a :class:`RareFields` of the finding's own otherwise (96 bytes: a
finding that sets one is 48 bytes larger than before). Each field reads through a property
whose getter is C (`attrgetter`), yet about 470 instructions a read against about 30 for a
slot (3.11 does not specialise it): the writers that read them for every finding (ASFF,
SARIF, JUnit, the HTML report, the scan cache, the fixes) read the holder, `finding.rare`,
once and then its slots. A 5k run read the fields about 130,000 times; the correlation's
17,500 reads still pay the property.

They stay dataclass fields: `fields()`, `asdict`, `replace`, equality, hashing, `repr`,
`__match_args__` and the pickled state (the dataclass's list of every field's value, read
through the properties) are what they were. Only `object.__setattr__` of one of them, which
nothing does (a frozen finding is changed through `model.slots`), fails.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter
from typing import Any

#: the fields held together, in the order `RareFields` takes them
RARE = ("remediation_url", "vulnerabilities", "confidence", "types", "first_observed_at",
        "last_observed_at", "related")
#: the slot holding them: `finding.rare`, a RareFields (a loop over many findings reads them
#: there: a slot's read each, where a field's property costs about 470 instructions)
SLOT = "rare"
_EMPTY: tuple = ()   # CPython's one empty tuple: every default `()` is this object


class RareFields:
    """A finding's seven rarely set fields, as it was given them (the objects themselves)."""

    __slots__ = RARE

    def __init__(self, remediation_url: Any, vulnerabilities: Any, confidence: Any,
                 types: Any, first_observed_at: Any, last_observed_at: Any,
                 related: Any) -> None:
        self.remediation_url = remediation_url
        self.vulnerabilities = vulnerabilities
        self.confidence = confidence
        self.types = types
        self.first_observed_at = first_observed_at
        self.last_observed_at = last_observed_at
        self.related = related

    def with_related(self, related: Any) -> "RareFields":
        """These fields, `related` changed (the correlation's: `model.slots.RELATED`)."""
        if related is self.related:
            return self
        return rare_fields(self.remediation_url, self.vulnerabilities, self.confidence,
                           self.types, self.first_observed_at, self.last_observed_at, related)


class _Factory:
    """The default of a field made by its factory, in a hand-written `__init__`'s signature
    (`Finding.__init__`: the dataclass's own shows it as this)."""

    def __repr__(self) -> str:
        return "<factory>"


FACTORY: Any = _Factory()


#: every field at its default (the dataclass's: None or the empty tuple)
NO_RARE = RareFields(None, _EMPTY, None, _EMPTY, None, None, _EMPTY)


def rare_fields(remediation_url: Any = None, vulnerabilities: Any = _EMPTY,
                confidence: Any = None, types: Any = _EMPTY, first_observed_at: Any = None,
                last_observed_at: Any = None, related: Any = _EMPTY) -> RareFields:
    """What a finding given these values holds in its `rare` slot: NO_RARE when each is its
    default object (an empty list is no default: the finding keeps the list it was given)."""
    if (remediation_url is None and vulnerabilities is _EMPTY and confidence is None
            and types is _EMPTY and first_observed_at is None and last_observed_at is None
            and related is _EMPTY):
        return NO_RARE
    return RareFields(remediation_url, vulnerabilities, confidence, types, first_observed_at,
                      last_observed_at, related)


def slotted(cls: type) -> type:
    """`cls` (a frozen dataclass made without `slots=True`) with a slot for each field but the
    RARE ones, which read from the `rare` slot: the class `@dataclass(slots=True)` makes
    (`dataclasses._add_slots`: a new class of the same name and dict, a field's default no
    class attribute), the pickled state the dataclass's. `cls` must define `__init__` and
    `__setstate__` filling `rare` (`rare_fields`)."""
    names = tuple(f.name for f in fields(cls))   # type: ignore[arg-type]
    if not set(RARE) <= set(names) or "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__} cannot hold {RARE} together")
    inherited = {name for base in cls.__mro__[1:-1] for name in _slots_of(base)}
    body = dict(cls.__dict__)
    body["__slots__"] = tuple(n for n in names if n not in RARE and n not in inherited) + (SLOT,)
    for name in names:
        body.pop(name, None)
    for name in RARE:
        body[name] = property(attrgetter(f"{SLOT}.{name}"),
                              doc=f"The finding's {name} (held in its {SLOT} slot).")
    body.pop("__dict__", None)
    body.pop("__weakref__", None)
    out = type(cls)(cls.__name__, cls.__bases__, body)
    out.__qualname__ = cls.__qualname__
    out.__getstate__ = _getstate   # type: ignore[attr-defined]
    return out


def _slots_of(cls: type) -> tuple[str, ...]:
    """The slots `cls` itself declares (`__slots__` may be one name)."""
    declared = cls.__dict__.get("__slots__", ())
    return (declared,) if isinstance(declared, str) else tuple(declared)


def _getstate(self: Any) -> list[Any]:
    """A frozen slotted dataclass's pickled state (`dataclasses._dataclass_getstate`)."""
    return [getattr(self, f.name) for f in fields(self)]
