"""The run's clear values, as the correlation matches secret findings against them.

A secret finding names its value by a digest: the HMAC-SHA-256 of the value under the run's key
(a tool that saw the value in clear), or a tool's SHA-1 of it, re-keyed at parse time
(detect-secrets, checkov's secrets) or read back raw (an older ASFF). Matching a finding to a
clear value the run saw needs each value's three digests: its HMAC, the keyed digest of its
SHA-1 (`FingerprintKey.rekey("sha1", ...)`) and its SHA-1.

They are made once per value and run (each stage's correlation and the run's last one use the
same index, `pipeline.issues.secret_values`), and held as raw bytes, 84 a value in one
`bytearray`, not as dicts of hex texts: those (a digest, a SHA-1 and a keyed SHA-1 text per
value, and three dicts) were 11 MB at 25,000 values, alive through the stages' judging and the
run's correlation, their peak. A correlation instead indexes its findings by digest (texts they
hold already) and looks each value's digests up there (`match`).

Making a value's keyed SHA-1 used to record, in the key, the SHA-1 and its keyed digest, for
the run's hashes' pass (`FingerprintKey.scrub_hashes`) to replace that SHA-1 wherever a report
holds it: 6.5 MB at 25,000 values, from the first stage's judging on. `record_hashes` records
the same pairs once the run's correlation is done (`pipeline.issues.forget_values`), before that
pass, from the bytes held here.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Iterable, MutableSequence

from secpipe.model.secret import FingerprintKey, current_key

_HMAC, _KEYED_SHA1, _SHA1 = 32, 32, 20
_WIDTH = _HMAC + _KEYED_SHA1 + _SHA1   # one value's digests, in that order


class SecretValues:
    """Clear values (in the order first added) and their digests under the key active when
    each was added."""

    __slots__ = ("values", "_digests", "_keys")

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values: list[str] = []
        self._digests = bytearray()
        # (the index of the first value added under it, the key): one entry per `add`
        self._keys: list[tuple[int, FingerprintKey]] = []
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        """Index more values (a later stage's); a value already held is skipped."""
        key = current_key()   # the run's key context, as the runner opens it
        held = set(self.values)   # only while adding
        start = len(self.values)
        digests = self._digests
        for value in values:
            if value in held:
                continue
            held.add(value)
            self.values.append(value)
            raw = value.encode("utf-8")
            sha1 = hashlib.sha1(raw).digest()
            digests += key.digest_bytes(raw)   # Secret.from_value(value).sha256, as bytes
            # what `key.rekey("sha1", <hex SHA-1>)` gives, as bytes
            digests += key.digest_bytes(b"sha1:" + sha1.hex().encode("ascii"))
            digests += sha1
        if len(self.values) > start:
            self._keys.append((start, key))

    def match(self, by_digest: dict[str, int | list[int]],
              by_sha1: dict[str, int | list[int]], clear: MutableSequence[str | None],
              union: Callable[[int, int], None]) -> None:
        """For each value, in the order added: the findings of `by_digest` (keyed by their own
        digest) holding its HMAC and those of `by_sha1` (keyed by their lower-case digest)
        holding its keyed SHA-1 or its SHA-1 get it in `clear` (by index) and are joined
        (`union`) into one issue. A group an earlier value matched keeps that value and is not
        joined again, as the former index kept the first value of each digest: the same
        issues, but for two values whose HMACs under the run's key collide."""
        if not by_digest and not by_sha1:
            return
        digests = self._digests
        for n, value in enumerate(self.values):
            at = n * _WIDTH
            found: list[int | list[int]] = []
            if by_digest:
                held = by_digest.get(digests[at:at + _HMAC].hex())
                if held is not None:
                    found.append(held)
            if by_sha1:
                at += _HMAC
                for width in (_KEYED_SHA1, _SHA1):
                    held = by_sha1.get(digests[at:at + width].hex())
                    if held is not None:
                        found.append(held)
                    at += width
            if not found:
                continue
            first = -1
            for held in found:
                lead = held if type(held) is int else held[0]
                if clear[lead] is not None:   # an earlier value's already
                    continue
                for i in ((held,) if type(held) is int else held):
                    clear[i] = value
                if first < 0:
                    first = lead
                else:
                    union(first, lead)

    def record_hashes(self) -> None:
        """Record in each value's key the pair `rekey("sha1", <its SHA-1>)` records (the SHA-1
        and its keyed digest, as ASCII hex), for the run's hashes' pass."""
        bounds = [start for start, _ in self._keys[1:]] + [len(self.values)]
        for (start, key), end in zip(self._keys, bounds):
            key.remember_hashes(self._pairs(start, end))

    def _pairs(self, start: int, end: int) -> Iterable[tuple[bytes, bytes]]:
        digests = self._digests
        for at in range(start * _WIDTH + _HMAC, end * _WIDTH, _WIDTH):
            keyed = digests[at:at + _KEYED_SHA1].hex().encode("ascii")
            sha1 = digests[at + _KEYED_SHA1:at + _KEYED_SHA1 + _SHA1].hex().encode("ascii")
            yield sha1, keyed

    def digests_of(self, value: str) -> tuple[str, str, str]:
        """(HMAC, keyed SHA-1, SHA-1) of a value held, as hex texts (tests, diagnostics)."""
        at = self.values.index(value) * _WIDTH
        row = self._digests[at:at + _WIDTH]
        return (row[:_HMAC].hex(), row[_HMAC:_HMAC + _KEYED_SHA1].hex(),
                row[_HMAC + _KEYED_SHA1:].hex())


__all__ = ["SecretValues"]
