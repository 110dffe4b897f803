"""The digest of a provider's document as sent, for the unchanged re-import shortcut
(`importer.check_all`): two documents have the same digest exactly when they are equal in
every way the checks could see (types, key order, values).

It was 51% of the checking thread's time on an unchanged re-import (marshal + blake2b,
~16 us per 2 KB finding); this encoding costs ~7 us.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import threading
from typing import Any


def digest(obj: Any) -> str | None:
    """A digest of a provider's document exactly as sent (key order included), or None when
    it is not made of plain built-in types (see `_exact_bytes`). The stored digests of rows
    written before this encoding (blake2b of marshal) never match one: such a re-sent document
    takes the full path, with the same outcome, until its row is next updated."""
    data = _exact_bytes(obj)
    return None if data is None else hashlib.sha256(data).hexdigest()[:32]


class _Refuse:
    """A pickler's `dispatch_table` that refuses every object pickle would have to reduce:
    instances of classes (dict or str subclasses, UUID, Enum, dataclasses...). Built-in
    containers and scalars of exact type never reach it."""

    def __getitem__(self, cls: type) -> Any:
        raise TypeError(f"{cls.__name__} is not a plain built-in type")


_REFUSE = _Refuse()


def _exact_bytes(obj: Any) -> bytes | None:
    """Bytes that are equal exactly when two documents are: pickle protocol 5 in fast mode.

    Why pickle: the digest's bytes must tell apart every difference the checks could see, and
    orjson (~2 us) writes a tuple as a list, a UUID as a string and NaN as null. pickle writes
    each built-in type with its own opcode (1, 1.0 and True differ; a tuple is no list); fast
    mode keeps no memo, so equal documents give equal bytes however their objects are shared;
    the dispatch table refuses anything that would be reduced, as marshal (the former
    encoding, 12.8 us for a 2 KB finding) refused subclasses. A class or function object is
    pickled by name: the checks never accept a document holding one, so no stored digest can
    match it. A cycle or too deep nesting raises: no digest.

    One pickler per thread, reused: making a pickler cost as much as the pickling (~5 us);
    one that raised is dropped, so no state of a failed dump outlives it."""
    mine = _PICKLERS.__dict__
    try:
        out, pickler = mine["p"]
    except KeyError:
        out = io.BytesIO()
        pickler = pickle.Pickler(out, 5)
        pickler.fast = True
        pickler.dispatch_table = _REFUSE        # type: ignore[assignment]
        mine["p"] = out, pickler
    out.seek(0)
    out.truncate()
    try:
        pickler.dump(obj)
    # not a plain document (or unpicklable): no digest, and the full checks judge it
    except (TypeError, ValueError, RecursionError, pickle.PicklingError, AttributeError):
        del mine["p"]
        return None
    return out.getvalue()


_PICKLERS = threading.local()
