"""Secret values: kept as a keyed digest and a masked form, never in clear.

A secrets scanner necessarily sees the clear value. The parser turns it into a :class:`Secret`
at once; the clear text exists only inside :func:`Secret.from_value`, and (so the pipeline can
scrub raw reports and tool logs before they are written anywhere) in an optional
:class:`SecretCollector` the caller opened around the parse. Nothing else keeps it.

The digest is HMAC-SHA-256 under a secret :class:`FingerprintKey` (per hub, or per project for
hub-less runs), never a plain hash: a plain SHA-256 of a human-chosen password is reversed by a
dictionary in a few hundred guesses by anyone who can read a report or the hub. The key reaches
the (pure) parsers through :func:`keyed`, a context the caller opens around the parse, as it
opens :func:`collecting`.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import json
import re
import secrets as _random
import string
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Iterable, Iterator

if TYPE_CHECKING:
    from secpipe.model.scrubber import Scrubber


@dataclass(frozen=True, slots=True)
class Secret:
    """A leaked value as secpipe keeps it.

    `sha256` is the hex HMAC-SHA-256 of the value under the active :class:`FingerprintKey`
    (the field keeps its name: ASFF's `secpipe/SecretSha256`, finding identities and the
    correlation of one value across tools all read it). Equal values give equal digests under
    one key, so identities are stable across runs that share the key.
    """

    sha256: str
    masked: str

    @classmethod
    def from_value(cls, value: str) -> "Secret":
        collector = _ACTIVE.get()
        if collector is not None:
            collector.add(value)
        return cls(sha256=current_key().digest(value), masked=mask(value))

    @classmethod
    def from_hash(cls, digest: str, masked: str | None = None,
                  algorithm: str = "sha1") -> "Secret":
        """For tools that only report a plain hash of the value (detect-secrets and checkov's
        secrets runner report its SHA-1). The tool's hash is itself a dictionary oracle, so it
        is re-keyed here and never kept; the active key also remembers it, so the pipeline can
        scrub it from the tool's raw report and log (:meth:`FingerprintKey.scrub_hashes`)."""
        key = current_key()
        keyed = key.rekey(algorithm, digest)
        if masked is None:
            found = _new(HashedSecret)   # its masked form made from the digest when read
            _SET_SHA256(found, keyed)
            return found
        return cls(sha256=keyed, masked=masked)

    @classmethod
    def from_digest(cls, digest: str, masked: str = "****") -> "Secret":
        """A digest secpipe keyed already (read back from its own ASFF): kept as it is."""
        return cls(sha256=digest, masked=masked)

    def __eq__(self, other: object) -> bool:
        """The fields', whatever the class (a :class:`HashedSecret` equals the Secret holding
        its masked text: a scan cache hit reads one back as that)."""
        if isinstance(other, Secret):
            return self.sha256 == other.sha256 and self.masked == other.masked
        return NotImplemented


_new = object.__new__
_SET_SHA256 = Secret.__dict__["sha256"].__set__


class HashedSecret(Secret):
    """A Secret standing for a tool's plain hash of a value (`Secret.from_hash` without a
    masked form), whose masked form `…(hashed by the tool; #<8 hex>)` is made from its digest
    when read instead of held: about 170 bytes a detect-secrets finding (the `…` makes the
    text two bytes a character, and its UTF-8 form is kept once written), 2 MB at 12,500
    findings alive from the parse to the run's end. Only these pay the read's call (about
    twelve a finding: its title and description are made from it); every other Secret reads
    its slot.

    It is a Secret to every reader: the same fields (`masked` reads as the text), equality
    with a Secret holding that text, hash, repr, `asdict`; copied or pickled, it is that
    Secret. Made by `from_hash` only."""

    __slots__ = ()

    @property
    def masked(self) -> str:   # type: ignore[override]
        return f"…(hashed by the tool; #{self.sha256[:8]})"

    def __repr__(self) -> str:   # a Secret's (a finding's repr shows it)
        return f"Secret(sha256={self.sha256!r}, masked={self.masked!r})"

    def __reduce_ex__(self, protocol: object) -> tuple:
        return Secret, (self.sha256, self.masked)

    def __reduce__(self) -> tuple:
        return Secret, (self.sha256, self.masked)


def keyed_tool_hash(algorithm: str, tool_hash: str) -> str:
    """A tool's own id or hash that is derived from a secret value (trufflehog3's issue id is
    uuid3 of `path:secret`), re-keyed under the active key and scrubbed from its raw report like
    :meth:`Secret.from_hash`; empty stays empty."""
    return current_key().rekey(algorithm, tool_hash) if tool_hash.strip() else ""


def mask(value: str) -> str:
    """`AKIAABCDEFGHIJKLWXYZ` -> `AKIA…WXYZ`; short values keep nothing of themselves."""
    value = value.strip()
    if "\n" in value or "-----BEGIN" in value:
        first = value.splitlines()[0] if value else ""
        return first[:40] + "…(redacted)" if first.startswith("-----BEGIN") else "…(redacted)"
    if len(value) >= 16:
        return f"{value[:4]}…{value[-4:]}"
    if len(value) >= 8:
        return f"{value[:2]}…"
    return "…"


# data length x values below which SecretCollector.scrub searches each form instead of
# building the automaton: 43 KB against 25,000 values, a 10 MB report against 100
_SMALL_SCRUB = 1 << 30


class SecretCollector:
    """Clear values seen while it was active, for scrubbing raw reports and logs."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self._cached: tuple[int, Scrubber] | None = None  # (len(values) it was built for, ...)
        self._table: tuple[int, dict[bytes, bytes]] | None = None   # the same, its table

    def add(self, value: str) -> None:
        value = value.strip()
        if len(value) >= 6:
            self.values.add(value)
            # Long values (private-key blocks) are also scrubbed line by line, since tools
            # print them one line at a time.
            for line in value.splitlines():
                line = line.strip()
                if len(line) >= 16 and not line.startswith("-----"):
                    self.values.add(line)

    def scrub(self, data: bytes) -> bytes:
        """Replace every seen value (raw and JSON-escaped) with its masked form, in one pass.

        The JSON-escaped occurrence gets a JSON-escaped mask, so a scrubbed JSON report stays
        valid JSON (a mask may end in a quote the value contained). Where forms of several
        values overlap, the longest wins.
        """
        if not self.values:
            return data
        key = len(self.values)
        if (self._cached is None or self._cached[0] != key) \
                and len(data) * key <= _SMALL_SCRUB:
            return self._scrub_small(data)
        return self._scrubber().scrub(data)

    def scrub_into(self, data: bytes, out: BinaryIO) -> bool:
        """`out.write(self.scrub(data))`, the automaton's result written a window at a time
        (`Scrubber.scrub_into`: no scrubbed copy in memory); whether it changed `data`."""
        if self.values and (self._cached is not None and self._cached[0] == len(self.values)
                            or len(data) * len(self.values) > _SMALL_SCRUB):
            return self._scrubber().scrub_into(data, out)
        scrubbed = self.scrub(data)
        out.write(scrubbed)
        return scrubbed is not data and scrubbed != data

    def _scrub_small(self, data: bytes) -> bytes:
        """A log or a message against many values: the forms it holds are found by plain
        searches and only they go into an automaton. The whole one (about 90 MB and 0.3 s
        at 25,000 values) is built only for data it pays for. Same result: a form that does
        not occur in the data never takes part in a match."""
        from secpipe.model.scrubber import Scrubber

        present = {form: masked for form, masked in self._replacements().items()
                   if form in data}
        return Scrubber(present).scrub(data) if present else data

    def _replacements(self) -> dict[bytes, bytes]:
        key = len(self.values)
        if self._table is None or self._table[0] != key:
            self._table = (key, replacement_table(self.values))
        return self._table[1]

    def _scrubber(self) -> "Scrubber":
        from secpipe.model.scrubber import Scrubber

        key = len(self.values)
        if self._cached is None or self._cached[0] != key:
            values = frozenset(self.values)
            scrubber = _kept_scrubber(values)
            if scrubber is None:
                scrubber = Scrubber(self._replacements())
                _built(values, scrubber)
            self._cached = (key, scrubber)
        return self._cached[1]

    def release(self) -> None:
        """Drop the automaton and table built for the values (rebuilt if scrubbing again):
        at 25,000 values they hold about 40 MB the rest of a run does not need."""
        self._cached = None
        self._table = None

    def finds_any(self, data: bytes) -> bool:
        """Whether any form of any value occurs in `data` (what :meth:`scrub` would change)."""
        return bool(self.values) and self._scrubber().finds_any(data)

    def scrub_text(self, text: str) -> str:
        return self.scrub(text.encode("utf-8")).decode("utf-8", errors="replace")


# An automaton built for some values, kept for another collector of the same values. A run
# builds one for a tool's own values when the scan cache scrubs its report, and again for
# the same values when the reports of the tools without values (checkov, detect-secrets) are
# searched for them (scrubonce): 0.3 s at 25,000 values. The last one built is known weakly
# (nothing is kept outside a run: `hub serve` keeps none); `keep_scrubber`, called by the
# scan cache's pass (scrubonce.remember), holds it until `drop_kept_scrubber` at the run's
# end, when it is small (`KEEP_MAX_VALUES`). Two equal sets of values make the same
# replacements (a form two values share, which only a crafted value can make, is replaced as
# the first of them in the set's order, as before).
_LAST_BUILT: list[tuple[frozenset[str], "weakref.ref[Scrubber]"]] = []
_KEPT: list[tuple[frozenset[str], "Scrubber"]] = []
_SHARING_LOCK = threading.Lock()


def _built(values: frozenset[str], scrubber: "Scrubber") -> None:
    with _SHARING_LOCK:
        _LAST_BUILT[:] = [(values, weakref.ref(scrubber))]


def _kept_scrubber(values: frozenset[str]) -> "Scrubber | None":
    with _SHARING_LOCK:
        if _KEPT and _KEPT[0][0] == values:
            return _KEPT[0][1]
    return None


#: values beyond which the automaton is built again for the run's pass, not kept: held from
#: its tool's turn to that pass, through every other tool's parse, 25,000 values' automaton
#: and table were 7 MB of the tools' plateau at 50,000 findings; building them again costs
#: about 0.05 s there, a small part of such a run. A smaller one (5,000 findings: 2,500
#: values, 1 MB, 5 ms) is kept, as the CPU counts at that size.
KEEP_MAX_VALUES = 10_000


def keep_scrubber(values: frozenset[str]) -> None:
    """Hold the automaton last built for exactly `values`, if it is still alive and
    `values` are not too many."""
    if len(values) > KEEP_MAX_VALUES:
        return
    with _SHARING_LOCK:
        if _LAST_BUILT and _LAST_BUILT[0][0] == values:
            scrubber = _LAST_BUILT[0][1]()
            if scrubber is not None:
                _KEPT[:] = [(values, scrubber)]


def drop_kept_scrubber() -> None:
    with _SHARING_LOCK:
        _KEPT.clear()
        _LAST_BUILT.clear()


# what JSON escapes (ensure_ascii=False): a value without any of these, and ASCII, is its own
# JSON-escaped form in both spellings
_JSON_ESCAPED = re.compile(r'[\x00-\x1f"\\]')


def replacement_table(values: Iterable[str]) -> dict[bytes, bytes]:
    """Every form of every value (JSON-escaped with and without ensure_ascii, and raw) and its
    masked form in the same spelling; the first form wins where two coincide, as replacing
    in this order did. Most values are printable ASCII, whose three forms are one: their
    entry is made without the three json.dumps (a third of the scrub's time at 25,000
    values)."""
    table: dict[bytes, bytes] = {}
    for value in values:
        masked = mask(value)
        if value.isascii() and _JSON_ESCAPED.search(value) is None \
                and _JSON_ESCAPED.search(masked) is None:
            # forms one and three are the value itself, and so is form two (ASCII); the first
            # form's replacement is the mask, unescaped (it holds nothing JSON escapes)
            table.setdefault(value.encode("utf-8"), masked.encode("utf-8"))
            continue
        for form, replacement in (
                (json.dumps(value, ensure_ascii=False)[1:-1],
                 json.dumps(masked, ensure_ascii=False)[1:-1]),
                (json.dumps(value)[1:-1], json.dumps(masked)[1:-1]),
                (value, masked)):
            table.setdefault(form.encode("utf-8"), replacement.encode("utf-8"))
    return table


class FingerprintKey:
    """The secret that keys every secret digest of a run (HMAC-SHA-256).

    It also records the plain hashes tools reported (detect-secrets' SHA-1) and their keyed
    replacements, so raw reports and logs can be scrubbed of them before they are written.
    """

    __slots__ = ("_key", "_hashes", "_lock", "_hmac")

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a fingerprint key needs at least 16 bytes")
        self._key = bytes(key)
        # HMAC keyed once, then copied per value (`digest`): hmac.new sets the key up afresh
        # for every value, about 2x the cost of a copy, and a run makes three digests per
        # secret value
        self._hmac = hmac.new(self._key, digestmod=hashlib.sha256)
        # plain hash -> its keyed digest, both as the ASCII bytes scrub_hashes searches for:
        # kept as text, the table was encoded anew for each scrub (13 MB at 50,000 findings,
        # beside the run's largest report) and held twice meanwhile
        self._hashes: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def ephemeral(cls) -> "FingerprintKey":
        """A random key: keyed digests that no one can test guesses against, stable only
        while this object lives."""
        return cls(_random.token_bytes(32))

    def digest(self, value: str) -> str:
        """HMAC-SHA-256 of the value, hex (`hmac.new(key, value, sha256).hexdigest()`)."""
        h = self._hmac.copy()
        h.update(value.encode("utf-8"))
        return h.hexdigest()

    def digest_bytes(self, data: bytes) -> bytes:
        """`digest` of a value's UTF-8 bytes, as the 32 bytes its hex text spells."""
        h = self._hmac.copy()
        h.update(data)
        return h.digest()

    def remember_hashes(self, pairs: Iterable[tuple[bytes, bytes]]) -> None:
        """Record (plain hash, its keyed digest) pairs, ASCII, as `rekey` records its own (the
        last one of a hash wins): made from digests held as bytes (`pipeline.secretvalues`)."""
        with self._lock:
            table = self._hashes
            for plain, replacement in pairs:
                if table.get(plain) != replacement:
                    table[plain] = replacement

    def rekey(self, algorithm: str, tool_hash: str) -> str:
        """The keyed digest standing for a tool's plain hash of a value."""
        tool_hash = tool_hash.strip().lower()
        keyed = self.digest(f"{algorithm.lower()}:{tool_hash}")
        if len(tool_hash) >= 16:
            # a text that is not ASCII is never looked up (scrub_hashes looks up runs of hex
            # digits): its `?`s stand for what it held, as when the table was encoded per scrub
            plain, replacement = tool_hash.encode("ascii", "replace"), keyed.encode("ascii")
            with self._lock:
                if self._hashes.get(plain) != replacement:   # the last rekey of a hash wins
                    self._hashes[plain] = replacement
        return keyed

    def scrub_hashes(self, data: bytes) -> bytes:
        """Replace every plain hash a tool reported (either case) with its keyed digest.

        One pass over the data whatever the number of hashes (a history scan reports
        thousands): every run of hex digits (dash-joined, for uuids) is looked up whole, then
        part by part."""
        # the table itself, not a copy: the runner digests one tool's output at a time
        # (scancache.turns), so no hash is recorded while a report is scrubbed of them
        table = self._hashes
        if not table:
            return data

        from secpipe.model.scrubber import splice  # not at import: it compiles patterns

        # spliced into one buffer (`scrubber.splice`), not `re.sub`: that held every piece
        # (each hex run and the text between) as its own object until the join, 34 MB for a
        # 14 MB report at 50,000 findings; and a report holding no reported hash (most) is
        # returned as it is, not copied. (Splitting on the runs in C, then joining, holds the
        # same list of pieces: 35 MB for that report, and its Python loop over every run
        # costs as much as this one's over the matches.)
        def edits() -> Iterator[tuple[int, int, bytes]]:
            for start, end in hex_runs(data):
                token = data[start:end]
                found = table.get(token.lower())
                if found is None:
                    if b"-" not in token:
                        continue
                    found = b"-".join(table.get(part.lower(), part)
                                      for part in token.split(b"-"))
                    if found == token:
                        continue
                yield start, end, found

        return splice(data, edits())

    def release(self) -> None:
        """Nothing to drop any more: scrub_hashes searches the recorded table itself, which
        used to be encoded anew for each scrub and released after (13 MB at 50,000
        findings). Kept for its callers, which release after each scrub."""

    def forget_hashes(self) -> None:
        """Drop every plain hash recorded and its keyed digest, once the run's reports and logs
        are scrubbed of them (14 MB at 50,000 findings, held through the outputs otherwise:
        the run's key lives as long as the run). A hash recorded later is recorded afresh."""
        with self._lock:
            self._hashes = {}

    def scrub_hashes_text(self, text: str) -> str:
        return self.scrub_hashes(text.encode("utf-8")).decode("utf-8", errors="replace")

    def __repr__(self) -> str:  # never the key itself, whatever gets logged
        return "FingerprintKey(…)"


_HEX_RUN = re.compile(rb"[0-9A-Fa-f]{8,}(?:-[0-9A-Fa-f]{4,})*")

# `_HEX_RUN` over bytes translated to three symbols: every hex digit to `x`, `-` to itself,
# anything else to a space. The pattern asks of each byte only "hex digit?" and "dash?", which
# the translation keeps, so `finditer` gives the same spans; but this pattern starts with a
# literal (`xxxxxxx`), which the regex engine looks for with a fast search instead of trying
# the character class at every byte: 5-25 times faster on a report (most bytes start no run).
HEX_SYMBOLS = bytes(ord("x") if chr(b) in string.hexdigits else b if b == ord("-") else
                    ord(" ") for b in range(256))
_HEX_RUN_SYMBOLS = re.compile(rb"xxxxxxxx+(?:-xxxx+)*")
#: bytes translated at a time: the translation is a copy, so a 14 MB report is done in pieces
HEX_WINDOW = 1 << 20
_CUT_STEP = 4096   # bytes looked at at a time for the end of a window


def hex_runs(data: bytes) -> Iterator[tuple[int, int]]:
    """The (start, end) of every `_HEX_RUN` match in `data`, in order. A window ends at a byte
    that is neither a hex digit nor `-`, which no match holds: the search from there finds
    what the search over the whole data finds."""
    size, base = len(data), 0
    while base < size:
        cut = base + HEX_WINDOW
        while cut < size:
            space = data[cut:cut + _CUT_STEP].translate(HEX_SYMBOLS).find(b" ")
            if space >= 0:
                cut += space
                break
            cut += _CUT_STEP
        for match in _HEX_RUN_SYMBOLS.finditer(data[base:cut].translate(HEX_SYMBOLS)):
            yield base + match.start(), base + match.end()
        base = cut

_KEY: contextvars.ContextVar[FingerprintKey | None] = contextvars.ContextVar(
    "secpipe_fingerprint_key", default=None
)
_FALLBACK: list[FingerprintKey] = []
_FALLBACK_LOCK = threading.Lock()


def current_key() -> FingerprintKey:
    """The key of the active :func:`keyed` context.

    Code that parses outside such a context (a library caller, a test) still gets keyed
    digests, under a random key made once per process: nothing it writes can be tested
    against a dictionary, but its identities do not survive the process. Whoever needs stable
    identities (`secpipe run`, `convert`, `import`) opens :func:`keyed` with a stored key.
    """
    key = _KEY.get()
    if key is not None:
        return key
    with _FALLBACK_LOCK:
        if not _FALLBACK:
            _FALLBACK.append(FingerprintKey.ephemeral())
        return _FALLBACK[0]


@contextlib.contextmanager
def keyed(key: FingerprintKey) -> Iterator[FingerprintKey]:
    """Make every :class:`Secret` made in this context use `key`."""
    token = _KEY.set(key)
    try:
        yield key
    finally:
        _KEY.reset(token)


_ACTIVE: contextvars.ContextVar[SecretCollector | None] = contextvars.ContextVar(
    "secpipe_secret_collector", default=None
)


@contextlib.contextmanager
def collecting(collector: SecretCollector) -> Iterator[SecretCollector]:
    """Make `collector` see every :meth:`Secret.from_value` call in this context."""
    token = _ACTIVE.set(collector)
    try:
        yield collector
    finally:
        _ACTIVE.reset(token)
