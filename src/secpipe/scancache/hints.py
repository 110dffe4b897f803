"""Scrubbing across tools when some of them were served from the cache.

In a cold run every clear value any parser saw scrubs every tool's raw report and log: a key
trufflehog3 found is masked in checkov's report too. A tool served from the cache parses
nothing, so its values would be missing from that scrub, and a tool that did run could write
one of them in clear. The cache therefore keeps, per value of 16 characters or more, exactly
what its masked form already shows (first and last four characters) plus its length and its
fingerprint digest; in a run, each such hint is looked for in the reports and logs of the tools
that did run, and a candidate whose digest matches is handed to the run's collector, which
then scrubs it like any value a parser saw. Shorter values are never hinted (their mask shows
less than four plus four characters), so they are not recovered this way.

A big text (a cached checkov report is megabytes, served again on every run) is searched once
per hint: whether a hint's value is in a text, and where, depends on nothing else, so the
answer is kept per text (by the digest of its bytes) in the scan cache (`_memo`), and the next
run searches it only for hints it has not answered yet. A kept answer holds the hint's digest
and a position, or its digest alone ("not in it"), never a value; a position is believed only
where the value read there has the hint's digest.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from typing import Any, Iterable

from secpipe.model import SecretCollector
from secpipe.model.scrubber import WINDOW
from secpipe.scancache import windows
from secpipe.scancache.hintscan import EDGE, MIN_HINTED, Hint, Scanner

MEMO_MIN = 1 << 20   # texts of this many bytes or more keep their answers (`_memo`)
_MEMO_TOOL = "_hint-search"   # the scan cache's folder for them (no tool has this name)


def make_hints(values: Iterable[str], digest) -> list[list]:
    """Hints for the values a tool's parser collected (digest: the fingerprint function)."""
    out = []
    for value in sorted(set(values)):
        if len(value) >= MIN_HINTED:
            out.append([value[:EDGE], value[-EDGE:], len(value), digest(value)])
    return out


class _RunState:
    __slots__ = ("hints", "texts", "lock", "scanner", "version")

    def __init__(self) -> None:
        self.hints: set[Hint] = set()
        # the tools' own report and log bytes (held by the run anyway), decoded one at a time
        # when searched: a decoded copy of every report kept for the whole run was the size of
        # the reports again
        self.texts: list[bytes] = []
        self.lock = threading.Lock()
        # for every hint of the run, made when a text is searched for them all (a text whose
        # answers are all kept needs none: `_memo`), kept while `version` (of `hints`) holds
        self.scanner: Scanner | None = None
        self.version = 0


_STATES: "weakref.WeakKeyDictionary[SecretCollector, _RunState]" = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def _state(collector: SecretCollector) -> _RunState:
    with _STATES_LOCK:
        state = _STATES.get(collector)
        if state is None:
            state = _STATES[collector] = _RunState()
        return state


def forget(collector: SecretCollector) -> None:
    """Every tool has run: the tools' texts need no more searching. Dropped before the run's
    final scrub, so each raw report is freed as soon as its scrubbed copy replaces it."""
    with _STATES_LOCK:
        _STATES.pop(collector, None)


def add_hints(collector: SecretCollector, hints: Iterable[list], digest) -> None:
    """A cached tool's hints: look for them in what already ran, and in what runs later."""
    state = _state(collector)
    new = {(h[0], h[1], int(h[2]), h[3]) for h in hints}
    with state.lock:
        new -= state.hints
        if new:
            state.hints |= new
            state.scanner, state.version = None, state.version + 1
        texts = list(state.texts)
    if new and texts:
        _search(collector, new, texts, digest)


def add_texts(collector: SecretCollector, blobs: Iterable[bytes], digest) -> None:
    """A tool that ran: its reports and log, searched for every hint of the run."""
    texts = [b for b in blobs if b]
    state = _state(collector)
    with state.lock:
        state.texts.extend(texts)
        if not state.hints or not texts:
            return
        scanner, hinted, version = state.scanner, set(state.hints), state.version
    scanner = _search(collector, hinted, texts, digest, scanner)
    if scanner is not None:
        with state.lock:
            if state.version == version:
                state.scanner = scanner


def _search(collector: SecretCollector, hinted: set[Hint], blobs: list[bytes], digest,
            scanner: "Scanner | None" = None) -> "Scanner | None":
    """Every hint looked for in every blob; a big blob's answers kept (`_memo`). One scanner
    of `hinted` serves every blob searched for all of them (`scanner`, when given, is one,
    else it is made when first needed); returned when there is one."""
    small = [b for b in blobs if len(b) < MEMO_MIN]
    if small:
        scanner = scanner or Scanner(hinted)
        scanner.recover(collector, small, digest)
    for blob in blobs:
        if len(blob) >= MEMO_MIN:
            scanner = _memo(collector, hinted, blob, digest, scanner)
    return scanner


def _memo(collector: SecretCollector, hinted: set[Hint], blob: bytes, digest,
          scanner: "Scanner | None" = None) -> "Scanner | None":
    """`Scanner(hinted).recover` on one big blob, through the answers kept for its bytes
    (`_Answers`). Only the hints without a (confirmed) answer are searched, and their answers
    added. With the scan cache off, nothing is read or kept. The text is read a window at a
    time (`windows.py`), never decoded whole. Returns the scanner of all of `hinted` when it
    made or had one."""
    from secpipe.scancache import enabled, store

    if not enabled():
        scanner = scanner or Scanner(hinted)
        scanner.recover(collector, [blob], digest)
        return scanner
    key = hashlib.sha256(blob).hexdigest()
    kept = _Answers.of(_read_answers(key))
    pending = kept.unanswered({h[3] for h in hinted})
    todo: set[Hint] = set()
    confirm: dict[str, tuple[int, int]] = {}   # hint digest -> where its value was found
    for hint in hinted:
        if hint[3] not in pending:
            continue           # searched before: not in this text
        where = kept.found.get(hint[3], _MISSING)
        if where is _MISSING:
            todo.add(hint)
        elif _where(where):
            confirm[hint[3]] = (where[0], where[1])
        elif where is not None:
            todo.add(hint)     # a damaged answer: searched again
    if confirm:
        values = windows.slices(blob, confirm, WINDOW)
        for hint in hinted:
            if hint[3] in confirm:
                value = values.get(hint[3])
                if value is not None and digest(value) == hint[3]:
                    collector.add(value)
                else:
                    todo.add(hint)     # a damaged answer: searched again
    if not todo:
        return scanner
    if len(todo) == len(hinted):   # every hint: the scanner of them all, made once
        scanner = scanner or Scanner(hinted)
        found = scanner.find_in(blob, digest)
    else:
        found = Scanner(todo).find_in(blob, digest)
    for start, length, value in found.values():
        collector.add(value)
    kept.answer({h[3] for h in todo}, {d: [start, length]
                                      for d, (start, length, _v) in found.items()})
    del found
    store.write_entry(_MEMO_TOOL, key, kept.entry())
    return scanner


def _read_answers(key: str) -> dict[str, Any] | None:
    """`store.read_entry` of a text's answers, read by orjson alone: `store._loads` leaves to
    json an entry with a run of 20 digits, which `none`'s hex digests always hold, and json's
    read of a 1.6 MB string held ~6 MB at the top of a cached run's last turn (50,000
    findings), where orjson's holds the bytes and the string. The two differ only on integers
    beyond 64 bits (orjson reads a float): no position in a text, and not a position
    `_where` takes either way (json's would lie past the text's end): searched again."""
    import orjson

    from secpipe.scancache import store

    try:
        raw = store._entry_path(_MEMO_TOOL, key, None).read_bytes()
    except OSError:   # none kept (or unreadable: a miss, as store.read_entry's)
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            data = store._loads(raw)   # what orjson refuses (a lone surrogate), json reads
        except ValueError:
            return None   # damaged: searched again
    return data if isinstance(data, dict) and data.get("schema") == store.SCHEMA else None


_MISSING = object()
_WIDTH = 64   # characters of a hint's digest as `make_hints` writes it (SHA-256, hex)


class _Answers:
    """A text's kept answers: `found`, {hint digest: [start, length] of its value in the
    decoded text}, and `none`, the digests of the hints searched for and not in it, written
    one after the other (`_WIDTH` characters each). Nearly every answer is "not in it": held
    as a dict of 25,000 digests read from JSON, a cached run's answers for one report took
    ~17 MB at the top of its last turn (50,000 findings), and the digests of one string are a
    fifth of that. An answer kept by an older secpipe in `found` as None ("not in it") reads
    the same; a digest of another width is kept that way."""

    __slots__ = ("found", "none", "more")

    def __init__(self, found: dict[str, Any], none: str) -> None:
        self.found, self.none = found, none
        self.more: list[str] = []   # digests answered "not in it" since read

    @classmethod
    def of(cls, entry: dict[str, Any] | None) -> "_Answers":
        """The answers of an entry read back; a damaged part is as good as none (searched
        again)."""
        found = entry.get("found") if entry is not None else None
        none = entry.get("none") if entry is not None else None
        if not (type(none) is str and len(none) % _WIDTH == 0):
            none = ""
        return cls(found if isinstance(found, dict) else {}, none)

    def unanswered(self, digests: set[str]) -> set[str]:
        """`digests` less those answered "not in it" by `none` (its digests compared one by
        one, never made into a set of their own)."""
        none, width = self.none, _WIDTH
        for at in range(0, len(none), width):
            digests.discard(none[at:at + width])
        return digests

    def answer(self, searched: set[str], found: dict[str, list[int]]) -> None:
        """The answers of a search for `searched`: where each of `found` is, the rest not."""
        for d in searched:
            if d in found:
                self.found[d] = found[d]
            elif len(d) == _WIDTH:
                self.found.pop(d, None)
                self.more.append(d)
            else:
                self.found[d] = None

    def entry(self) -> dict[str, Any]:
        """What is kept: an older entry's None answers of the usual width moved to `none`."""
        old = [d for d, where in self.found.items() if where is None and len(d) == _WIDTH]
        found = {d: where for d, where in self.found.items()
                 if where is not None or len(d) != _WIDTH}
        return {"found": found, "none": "".join([self.none, *old, *self.more])}


def _where(where: object) -> bool:
    """Whether a kept answer reads as a position: [start, length], both whole numbers."""
    return (isinstance(where, list) and len(where) == 2
            and all(type(n) is int and n >= 0 for n in where))


__all__ = ["MEMO_MIN", "MIN_HINTED", "add_hints", "add_texts", "forget", "make_hints"]
