"""The secrets' matching of `pipeline.correlate` before the values' digests were held as bytes
(main 5231ee3), kept as the reference the tests compare the new code with: a dict per digest
kind over every value, a key per finding, and each value's SHA-1 recorded in the key as it is
indexed (`FingerprintKey.rekey`)."""

from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

from secpipe.model import Finding
from secpipe.model.secret import current_key
from secpipe.pipeline import correlate as corr


class FormerSecretValues:
    def __init__(self, values: Iterable[str] = ()) -> None:
        self.by_sha1: dict[str, str] = {}
        self.by_digest: dict[str, str] = {}
        self.digest_of: dict[str, str] = {}
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        key = current_key()
        for value in values:
            if value in self.digest_of:
                continue
            digest = key.digest(value)
            self.digest_of[value] = digest
            self.by_digest.setdefault(digest, value)
            sha1 = hashlib.sha1(value.encode("utf-8")).hexdigest()
            self.by_sha1.setdefault(sha1, value)
            self.by_sha1.setdefault(key.rekey("sha1", sha1), value)


def former_value_key(f: Finding, values: FormerSecretValues
                     ) -> tuple[str | tuple[str, str] | None, str | None]:
    if f.secret is None:
        return None, None
    digest = f.secret.sha256.lower()
    if f.properties.get("hash_algorithm") == "sha1" or corr._SHA1.match(digest):
        value = values.by_sha1.get(digest)
        if value is None:
            return ("sha1", digest), None
        return values.digest_of[value], value
    return f.secret.sha256, values.by_digest.get(f.secret.sha256)


def former_secrets(findings: Sequence[Finding], idx: Sequence[int], uf: "corr._UnionFind",
                   values: FormerSecretValues) -> None:
    clear: list[str | None] = [None] * len(findings)
    by_value: dict[object, int | list[int]] = {}
    for i in idx:
        key, clear[i] = former_value_key(findings[i], values)
        if key is not None:
            corr._group(by_value, key, i)
    for members in by_value.values():
        if isinstance(members, list):
            uf.join(members)
    corr._same_lines(findings, idx, clear, uf)   # unchanged by the new index: shared
