"""Text fields a finding makes from its other fields when they are read, instead of holding.

A secret finding's title and description are sentences built from what the finding already
holds (its tool, path, line, commit and masked value) and a few words of its rule. Held, they
are the largest part of it: about 580 of its 1,750 bytes (the masked value's `…` makes both
two bytes a character), 21 MB at 50,000 findings, alive from the parse to the run's end. A
parser may instead put one shared :class:`DerivedText` in those fields: reading the field
gives the same text as holding it would have, made anew at each read (a finding's title is read
about six times in a run, its description three).
A secret finding's `location_key` (its secret's digest with a prefix) is made the same way
(`formats._secrets.SecretKey`): 120 bytes a finding held, read about four times.

Nothing else sees the difference: every reader of `finding.title` gets a `str`; equality,
hashing, `repr`, pickling and `replace` (`Finding.with_`) all read the fields, so a copy made by
`replace` holds the text itself. Only a copy made through the slots (`model.slots`, which
reads the held values with :func:`held`) shares the DerivedText, and it changes no field the
text is made from. The fields are frozen, so the text made is the same at every read.
"""

from __future__ import annotations

from typing import Any, Callable


class DerivedText:
    """What a derived field holds: makes that field's text for one finding."""

    __slots__ = ()

    def render(self, finding: Any, field: str) -> str:
        raise NotImplementedError


class DerivedField:
    """A slot whose held value is a `str` (given back as it is) or a :class:`DerivedText`
    (rendered for the finding). Replaces the dataclass's slot descriptor on the class, and
    keeps that descriptor's get and set for :func:`held` and the slots' setters."""

    __slots__ = ("name", "get", "set")

    def __init__(self, name: str, member: Any) -> None:
        self.name = name
        self.get: Callable[[Any], Any] = member.__get__
        self.set: Callable[[Any, Any], None] = member.__set__

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = self.get(obj)
        if value.__class__ is not str and isinstance(value, DerivedText):
            return value.render(obj, self.name)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        self.set(obj, value)


def derive(cls: type, *names: str) -> None:
    """Make `names` (slots of the dataclass `cls`) derived fields."""
    for name in names:
        setattr(cls, name, DerivedField(name, cls.__dict__[name]))


def held(cls: type, name: str) -> Callable[[Any], Any]:
    """A getter of what field `name` of a `cls` holds: its DerivedText, not the text, for a
    derived field (a copy through the slots keeps it shared)."""
    descriptor = cls.__dict__[name]
    return descriptor.get if isinstance(descriptor, DerivedField) else descriptor.__get__


def setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """The slot's own `__set__` for field `name` of `cls` (a derived field's too)."""
    descriptor = cls.__dict__[name]
    return descriptor.set if isinstance(descriptor, DerivedField) else descriptor.__set__
