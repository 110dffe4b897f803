"""The version orderings the matcher compares with are univers' own."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from univers import versions as uv

from secpipe.vulndb.versions import parse

_UPSTREAM = st.from_regex(r"\A[0-9][0-9a-zA-Z.+~]{0,8}\Z", fullmatch=True)
_REVISION = st.from_regex(r"\A[0-9a-zA-Z.+~]{1,6}\Z", fullmatch=True)


@st.composite
def debian_versions(draw) -> str:
    version = draw(_UPSTREAM)
    if draw(st.booleans()):
        version += "-" + draw(_REVISION)
    if draw(st.booleans()):
        version = f"{draw(st.integers(0, 3))}:{version}"
    return version


@settings(max_examples=400, deadline=None)
@given(debian_versions(), debian_versions())
def test_debian_keys_order_like_univers(a: str, b: str) -> None:
    """The Debian fast path (a tuple key, no per-character logging) is univers' dpkg order."""
    if not (uv.DebianVersion.is_valid(a) and uv.DebianVersion.is_valid(b)):
        return
    ua, ub = uv.DebianVersion(a), uv.DebianVersion(b)
    ka, kb = parse(uv.DebianVersion, a), parse(uv.DebianVersion, b)
    assert (ka < kb) == (ua < ub)
    assert (kb < ka) == (ub < ua)


def test_known_debian_orders() -> None:
    key = lambda v: parse(uv.DebianVersion, v)  # noqa: E731
    ordered = ["1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a", "1.0+b1", "1.0.1", "1:0.1"]
    assert sorted(ordered, key=key) == ordered
    assert key("9.7.3.dfsg-1~squeeze13") < key("9.7.3.dfsg-1")
    assert key("1.0") == key("1.00") == key("1.0-0")


def test_unreadable_versions_are_none() -> None:
    assert parse(uv.SemverVersion, "not-a-version") is None
    assert parse(uv.PypiVersion, "") is None
    assert parse(uv.DebianVersion, "abc") is None
