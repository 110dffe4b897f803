"""The import path's JSON: orjson where it gives exactly what the standard encoder gives.

Serialising each stored document was ~20 us of a finding's ~100 us of Python on the import
path; orjson does it in ~2.5 us. Its compact UTF-8 output is the standard encoder's
(`separators=(",", ":")`, `ensure_ascii=False`) for plain JSON documents; where the two
differ, the standard encoder decides, so what the hub stores and the errors it reports do
not depend on whether orjson is installed:
- orjson refuses what the standard encoder may accept (a lone surrogate, an int beyond 64
  bits, a non-string key, nesting deeper than 254): the standard encoder is asked instead,
  and raises or encodes as before;
- orjson writes NaN and +-Infinity as null where the standard encoder writes NaN: an output
  holding `null` is encoded again by the standard encoder (documents rarely hold null);
- orjson serialises datetimes, dataclasses and subclasses of str/int/dict/list on its own
  terms: they are passed through to the standard encoder (which refuses the first two). The
  one leniency left: a uuid.UUID or an Enum member (only a Python caller can send them) is
  written as its value rather than refused.
Without orjson (it is a declared dependency, but a missing one costs speed only) the standard
encoder does everything.
"""

from __future__ import annotations

import json
from typing import Any, Callable

try:
    import orjson as _orjson
except ImportError:      # pragma: no cover - a declared dependency; speed only without it
    _orjson = None

# No circular-reference bookkeeping (a cycle surfaces as a RecursionError, which the
# importer turns into a failed finding): ~30% faster than `common.dumps`.
std_encode: Callable[[Any], str] = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


_OPTIONS = 0 if _orjson is None else (_orjson.OPT_PASSTHROUGH_DATETIME
                                      | _orjson.OPT_PASSTHROUGH_DATACLASS
                                      | _orjson.OPT_PASSTHROUGH_SUBCLASS)


def _fast_encode(obj: Any) -> str:
    try:
        out = _orjson.dumps(obj, option=_OPTIONS)      # type: ignore[union-attr]
    except (TypeError, ValueError):     # orjson.JSONEncodeError is a TypeError
        return std_encode(obj)
    if b"null" in out:                  # maybe a NaN or an Infinity written as null
        return std_encode(obj)
    return out.decode()


encode: Callable[[Any], str] = std_encode if _orjson is None else _fast_encode


def encode_screened(obj: Any) -> tuple[str, bool]:
    """`encode(obj)`, and True when orjson read the whole document: then no string in it
    (key or value) holds a surrogate, which orjson refuses in any str (a Python str holds
    code points, so a "pair" of them is two lone surrogates, which no UTF-8 database can
    store either). The importer's surrogate screen, a regex over the whole text, then has
    nothing to find: it cost ~85k instructions per 2 KB document that is not ASCII (a
    clipped Description's "…" is enough), ~6% of recording a run's new findings. False:
    the standard encoder wrote the text of a document orjson refused, and the caller
    screens it as before."""
    text, clean = encode_utf8_screened(obj)
    return (text.decode() if type(text) is bytes else text), clean


def encode_utf8_screened(obj: Any) -> tuple[str | bytes, bool]:
    """`encode_screened`, but orjson's text stays the UTF-8 bytes it wrote (the standard
    encoder's is a str, as before): for a writer that stores it as SQLite text straight
    from the bytes (`bulk.insert_rows`' `as_text`). Decoding a document that is not ASCII
    into a str only for the driver to encode it back cost ~40k instructions per 2 KB."""
    if _orjson is None:
        return std_encode(obj), False
    try:
        out = _orjson.dumps(obj, option=_OPTIONS)
    except (TypeError, ValueError):     # a surrogate among the possible reasons
        return std_encode(obj), False
    if b"null" in out:                  # orjson read every string: still none
        return std_encode(obj), True
    return out, True


# Reading: only for JSON the hub's own queries build (the key lookup's rows): orjson reads an
# integer beyond 64 bits as a float, so it is no general stand-in for json.loads.
_std_loads = json.loads


def _fast_loads(text: str | bytes) -> Any:
    try:
        return _orjson.loads(text)     # type: ignore[union-attr]
    except ValueError:                  # NaN / Infinity (accepted by json.loads)
        return _std_loads(text)


loads_rows: Callable[[str | bytes], Any] = _std_loads if _orjson is None else _fast_loads


# Reading anything else (request bodies, stored documents): orjson only where it provably
# reads what json.loads reads. The one silent difference is an integer beyond 64 bits, which
# orjson returns as a float; every such literal has 19 digits in a row (-2**63 - 1 has 19), so
# a text holding such a run anywhere (in a string too) is left to json.loads. What orjson
# refuses (NaN, Infinity, overflow, lone surrogates, deep nesting) is left to it as well.
SLOW = object()
_DIGITS = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_RUN = b"0" * 19


def loads_exact(raw: bytes) -> Any:
    """orjson's reading of `raw` where it is exactly `json.loads`'s, else `SLOW` (the caller
    then reads it with json.loads, with whatever error handling it needs)."""
    if _orjson is None or _LONG_RUN in raw.translate(_DIGITS):
        return SLOW
    try:
        return _orjson.loads(raw)
    except ValueError:                  # orjson.JSONDecodeError
        return SLOW
