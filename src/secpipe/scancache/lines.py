"""A tool's whole cached result (its findings and outcome) as JSON lines, read one finding at a
time.

A hit on an entry written as one JSON document decoded it whole: at 50,000 findings the
second run held trufflehog3's 31 MB entry, its 25,000 finding dicts (about 80 MB) and the
Findings made from them at once, and peaked 290-305 MB against the first run's 200-220. The
Findings themselves held twice a fresh parse's bytes: every finding its own copy of the tool's
name, rule, remediation text, references and mappings, and the title and description a secret
finding derives (`model.derived`) written out as text.

Here an entry is lines of compact JSON (which never holds a raw newline):

- the head: a JSON object, the outcome (`_save_whole`'s fields without the findings);
- per finding, a JSON object (`store.finding_to_json`), made into a Finding as it is read;
- before the first finding that uses it, a derived text a finding's title or description
  holds, as a JSON array `[module, class, {slot: text}]`; findings name it by its number;
- last, the number of findings: a file that does not end with it, or ends with another
  number, was cut short or damaged, and is a miss, never "no findings".

Equal texts, lists and mappings read are shared between findings (`Shared`), as a parser
shares them, so a hit's Findings weigh what a fresh parse's do. The reports are not in the
entry: `store.put_reports` keeps their bytes in a `.bin` file read back without decoding.
"""

from __future__ import annotations

import importlib
from typing import IO, Any, Iterable, Mapping

from secpipe.formats._common import shared, shared_mapping
from secpipe.formats._secrets import secret_key
from secpipe.model import Finding, Location, Resource, slots
from secpipe.model.derived import DerivedText
from secpipe.scancache import jsonout, store

SUFFIX = ".jsonl"


def write(tool: str, key: str, head: Mapping[str, Any], findings: Iterable[Finding]) -> None:
    """Write the entry atomically (`store._write_atomic`); a failure is kept for
    `store.write_failures`, as any entry's."""

    def emit(fh: IO[str]) -> None:
        jsonout.dump({"schema": store.SCHEMA, **head}, fh)
        fh.write("\n")
        numbers: dict[int, int | None] = {}   # by id(); None: written out as text
        seen: list[DerivedText] = []   # keeps every text looked at alive (ids stay unique)
        table: list[DerivedText] = []  # the texts written, in order: the reader's table

        def number(text: DerivedText) -> int | None:
            if id(text) not in numbers:
                seen.append(text)
                state = _state(text)
                numbers[id(text)] = None if state is None else len(table)
                if state is not None:
                    table.append(text)
                    fh.write(jsonout.encode([type(text).__module__, type(text).__qualname__,
                                             state]) + "\n")
            return numbers[id(text)]

        count = 0
        for f in findings:
            fh.write(jsonout.encode(store.finding_to_json(f, number)) + "\n")
            count += 1
        fh.write(f"{count}\n")

    store._write_atomic(path(tool, key), emit, binary=False)


def read(tool: str, key: str) -> tuple[dict[str, Any], list[Finding]] | None:
    """The entry's head and Findings; None when missing, of another schema, cut short or
    damaged (a miss: the tool runs again)."""
    try:
        with open(path(tool, key), "rb") as fh:
            head = store._loads(fh.readline())
            if not isinstance(head, dict) or head.get("schema") != store.SCHEMA:
                return None
            shared_ = Shared()
            findings: list[Finding] = []
            for line in fh:
                first = line[:1]
                if first == b"{":
                    findings.append(shared_.held(
                        store.finding_from_json(store._loads(line), shared_)))
                elif first == b"[":
                    shared_.texts.append(_derived(store._loads(line)))
                else:
                    complete = (line.endswith(b"\n") and int(line) == len(findings)
                                and not fh.read(1))
                    return (head, findings) if complete else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None   # damaged (bytes or shape): a miss
    return None   # no count line: cut short


class Shared(store.Kept):
    """`finding_from_json` sharing what repeats: texts interned (`formats._common.shared`, as
    parsers do), equal lists one tuple, equal mappings one dict (`shared_mapping`: a
    finding's mappings are never changed once made), and a derived title or description read
    by its number. A mapping's texts and a title or description held as text are shared
    through this entry's own table, not interned: many name one finding alone (trufflehog3's
    issue id, checkov's descriptions), and the interpreter's table of interned strings never
    shrinks (trufflehog3's parser keeps its ids as they are, for the same reason).
    A secret finding's location key is its secret's digest with a prefix: held as the parser
    holds it (`formats._secrets.SecretKey`); equal places of findings without a secret one
    Location (`formats._common.shared_location`), equal resources one Resource
    (`shared_resource`)."""

    __slots__ = ("texts", "seqs", "values", "locations", "resources")

    def __init__(self) -> None:
        self.texts: list[DerivedText] = []
        self.seqs: dict[tuple, tuple] = {}
        self.values: dict[str, str] = {}
        self.locations: dict[tuple, Location] = {}
        self.resources: dict[tuple, Resource] = {}

    def held(self, f: Finding) -> Finding:
        """`f` (just read, not yet seen by anyone) holding its location key and place as a
        fresh parse's finding does."""
        if f.secret is not None:
            key = secret_key(f)
            if key is not None:
                slots.LOCATION_KEY(f, key)
        else:
            loc = f.location
            if loc is not None:
                found = self.locations.setdefault(
                    (loc.path, loc.start_line, loc.end_line, loc.snippet), loc)
                if found is not loc:
                    slots.LOCATION(f, found)
        res = f.resource
        if res is not None:
            # equal details are one dict already (`mapping`); kept alive with the Resource
            found = self.resources.setdefault((res.type, res.id, id(res.details)), res)
            if found is not res:
                slots.RESOURCE(f, found)
        return f

    def text(self, value: Any) -> Any:
        return shared(value)

    def seq(self, value: list) -> tuple:
        if not value:
            return ()
        as_tuple = tuple(shared(v) for v in value)
        try:
            return self.seqs.setdefault(as_tuple, as_tuple)
        except TypeError:   # an unhashable element: kept as it is
            return as_tuple

    def mapping(self, value: Mapping[str, Any]) -> dict[str, Any]:
        values = self.values
        out = {k: values.setdefault(v, v) if type(v) is str else v for k, v in value.items()}
        try:
            return shared_mapping(out)
        except TypeError:
            return out

    def derived(self, value: Any) -> Any:
        if type(value) is int:
            if value < 0:
                raise IndexError(value)   # not a number the writer gives
            return self.texts[value]
        return self.values.setdefault(value, value) if type(value) is str else value


def _state(text: DerivedText) -> dict[str, str] | None:
    """A derived text's slots, when they are all it holds and all texts (what `_derived`
    makes it again from); None otherwise (the finding's text is then written out)."""
    names = _slot_names(type(text))
    if names is None:
        return None
    state = {name: getattr(text, name, None) for name in names}
    return state if all(type(v) is str for v in state.values()) else None


def _slot_names(cls: type) -> list[str] | None:
    names: list[str] = []
    for klass in cls.__mro__:
        if klass is object:
            continue
        if "__slots__" not in klass.__dict__ or "__dict__" in klass.__dict__:
            return None
        slots_ = klass.__dict__["__slots__"]
        names.extend([slots_] if isinstance(slots_, str) else slots_)
    return names


# derived texts made again, by class and state: one object for all equal ones (the parser
# shares one per kind of secret); emptied past _DERIVED_MAX
_DERIVED: dict[tuple, DerivedText] = {}
_DERIVED_MAX = 4096


def _derived(line: Any) -> DerivedText:
    """The DerivedText a `[module, class, state]` line names; ValueError (a miss) when it is
    not one secpipe defines with exactly those slots."""
    module, name, state = line
    if not isinstance(state, dict) or not all(type(v) is str for v in state.values()):
        raise ValueError("a derived text's state is not texts")
    key = (module, name, tuple(sorted(state.items())))
    found = _DERIVED.get(key)
    if found is not None:
        return found
    if not (isinstance(module, str) and module.startswith("secpipe.")):
        raise ValueError(f"not a secpipe module: {module!r}")
    try:
        cls = getattr(importlib.import_module(module), name, None)
    except ImportError as exc:
        raise ValueError(f"no module {module}") from exc
    names = _slot_names(cls) if isinstance(cls, type) and issubclass(cls, DerivedText) else None
    if names is None or sorted(names) != sorted(state):
        raise ValueError(f"not a derived text: {module}.{name}")
    found = object.__new__(cls)
    for slot, value in state.items():
        object.__setattr__(found, slot, value)
    if len(_DERIVED) >= _DERIVED_MAX:
        _DERIVED.clear()
    _DERIVED[key] = found
    return found


def path(tool: str, key: str):
    """Where the entry of `tool` under `key` lives."""
    return store._entry_path(tool, key, None).with_suffix(SUFFIX)


__all__ = ["SUFFIX", "Shared", "read", "write"]
