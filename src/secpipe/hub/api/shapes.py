"""Answers cut to botocore's output shapes, at response time.

The hub stores findings as producers sent them, plus what it derives (FindingProviderFields
copied from the finding, whose Severity then carries a `Normalized` the shape lacks; members of
a newer or older ASFF; a number where the shape says string). Security Hub answers only the
members of its output shapes, with their types, and SDKs generated from the model (Go, Java,
Rust) refuse what does not fit. So every Security Hub handler's answer goes through `conform`,
driven by the operation's output shape in botocore's model: members the shape lacks are
dropped, numbers and strings are converted where the shape says so and the value allows it,
and a value of another kind is dropped rather than sent.

    @conforms("GetFindings")
    async def get_findings(call): ...
"""

from __future__ import annotations

import functools
import math
from typing import Any, Awaitable, Callable

from secpipe.hub.api.botomodel import service_model

_DROP = object()


@functools.lru_cache(maxsize=None)
def output_shape(operation: str) -> Any:
    return service_model().operation_model(operation).output_shape


@functools.lru_cache(maxsize=None)
def _body_members(shape: Any) -> dict[str, Any]:
    """JSON key -> member shape of a structure's body members (headers and the status code
    travel elsewhere). Cached per shape object: the model's shapes are built once."""
    out = {}
    for name, member in shape.members.items():
        if member.serialization.get("location"):
            continue
        out[member.serialization.get("name", name)] = member
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _conform(value: Any, shape: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return _DROP
        members = _body_members(shape)
        out = {}
        for key, item in value.items():
            member = members.get(key)
            if member is None:
                continue
            fixed = _conform(item, member)
            if fixed is not _DROP:
                out[key] = fixed
        return out
    if kind == "list":
        if not isinstance(value, list):
            return _DROP
        items = (_conform(item, shape.member) for item in value)
        return [item for item in items if item is not _DROP]
    if kind == "map":
        if not isinstance(value, dict):
            return _DROP
        out = {}
        for key, item in value.items():
            fixed = _conform(item, shape.value)
            if fixed is not _DROP:
                out[str(key)] = fixed
        return out
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value) if _number(value) is not None else _DROP
        return _DROP
    if kind in ("integer", "long"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        number = _number(value)
        return int(number) if number is not None and number == int(number) else _DROP
    if kind in ("double", "float"):
        number = _number(value)
        if number is None:
            return _DROP
        return value if isinstance(value, (int, float)) else number
    if kind == "boolean":
        return value if isinstance(value, bool) else _DROP
    if kind == "timestamp":
        return value if isinstance(value, (str, int, float)) and not isinstance(value, bool) \
            else _DROP
    return value if isinstance(value, str) else _DROP  # blob: base64 text


def conform(operation: str, answer: dict[str, Any]) -> dict[str, Any]:
    """`answer` with only what `operation`'s output shape allows, in the shape's types."""
    shape = output_shape(operation)
    if shape is None:
        return {}
    fixed = _conform(answer, shape)
    return {} if fixed is _DROP else fixed


Handler = Callable[[Any], Awaitable[Any]]


def conforms(operation: str) -> Callable[[Handler], Handler]:
    """Decorate a Security Hub handler so its (dict) answer is cut to the output shape."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def answer(call: Any) -> Any:
            result = await handler(call)
            return conform(operation, result) if isinstance(result, dict) else result

        return answer

    return wrap
