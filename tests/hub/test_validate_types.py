"""`validate.check_types`' verdicts and messages on the members whose checks the import path
inlines or memoises (names, Resources' strings, string maps, the ProductArn): each wrong
value is refused with its own message, and a str subclass passes as a str."""

from __future__ import annotations

import pytest

from secpipe.hub import validate
from secpipe.hub.validate import BadFinding, check, check_types
from tests.hub.builders import ARN, finding


class Sub(str):
    pass


def res(**extra):
    return [{"Type": "Other", "Id": "r", **extra}]


@pytest.mark.parametrize("overrides, message", [
    ({"ProductName": "n" * 129}, "ProductName longer than 128"),
    ({"CompanyName": "c" * 129}, "CompanyName longer than 128"),
    ({"Region": "r" * 33}, "Region longer than 32"),
    ({"ProductName": 5}, "ProductName must be a string"),
    ({"ProductArn": "arn:aws:securityhub:us-east-1:1:nope"},
     "ProductArn is not a Security Hub product ARN"),
    ({"ProductArn": ARN + "x" * 300}, "ProductArn is not a Security Hub product ARN"),
    ({"Resources": res(Type=1)}, "Type must be a string"),
    ({"Resources": res(Id="i" * 513)}, "Id longer than 512"),
    ({"Resources": res(Partition="p" * 17)}, "Partition longer than 16"),
    ({"Resources": res(Region=["x"])}, "Region must be a string"),
    ({"Resources": res(Tags={"a": 1})}, "Tags must map non-empty strings to strings"),
    ({"Resources": res(Tags={"a": "v" * 257})}, "Tags key 'a' or its value is too long"),
    ({"Resources": res(Tags=["a"])}, "Tags must be a map of strings"),
    ({"ProductFields": {"": "v"}}, "ProductFields must map non-empty strings to strings"),
    ({"ProductFields": {1: "v"}}, "ProductFields must map non-empty strings to strings"),
    ({"ProductFields": {"k": None}}, "ProductFields must map non-empty strings to strings"),
    ({"ProductFields": {"k" * 129: "v"}},
     f"ProductFields key {'k' * 40!r} or its value is too long"),
    ({"UserDefinedFields": {"k": "v" * 1025}},
     "UserDefinedFields key 'k' or its value is too long"),
])
def test_each_wrong_value_has_its_message(overrides, message):
    with pytest.raises(BadFinding) as caught:
        check_types(finding(**overrides))
    assert str(caught.value) == message


def test_str_subclasses_and_limits_pass():
    check_types(finding(ProductName="n" * 128, Region=Sub("eu-west-1"),
                        Resources=res(Type=Sub("T"), Id="i" * 512, Partition="aws",
                                      Tags={Sub("k"): Sub("v")}),
                        ProductFields={Sub("k"): "v" * 2048, "k" * 128: ""}))


def test_the_arn_memo_gives_the_regex_answer_and_stays_bounded(monkeypatch):
    monkeypatch.setattr(validate, "_ARN_MEMO", {})
    for i in range(1500):
        arn = f"arn:aws:securityhub:us-east-1:123456789012:product/acme/t{i}"
        assert validate._arn_parts(arn) == ("us-east-1", "123456789012", "acme", f"t{i}")
        assert validate._arn_parts(arn + " x") is None
        assert len(validate._ARN_MEMO) <= 1024
    assert validate._arn_parts(["not", "hashable"]) is None
    doc = check(finding(ProductArn="arn:aws:securityhub:eu-west-1:123456789012:product/acme/t1"))
    assert (doc["CompanyName"], doc["ProductName"], doc["Region"]) == ("acme", "t1", "eu-west-1")


# --- _plain_strings: the totals and the key-tuple memo give the three passes' answer ---------
from hypothesis import given, settings, strategies as st  # noqa: E402


def _former_plain_strings(value: dict, value_limit: int) -> bool:
    """`_plain_strings` as it was: join for the types, then min/max over every length."""
    if not value:
        return True
    vals = value.values()
    try:
        "".join(value)
        "".join(vals)
    except TypeError:
        return False
    return (0 < min(map(len, value)) and max(map(len, value)) <= 128
            and max(map(len, vals)) <= value_limit)


_member = st.one_of(st.text(max_size=3), st.text(min_size=120, max_size=140),
                    st.sampled_from(["", "secpipe/Tool", "k" * 128, "k" * 129]),
                    st.builds(Sub, st.text(max_size=4)), st.none(), st.integers())
_maps = st.dictionaries(_member.filter(lambda k: k is None or hash(k) is not None),
                        _member | st.text(min_size=1000, max_size=1100), max_size=6)


@settings(max_examples=500, deadline=None)
@given(st.lists(_maps, min_size=1, max_size=4), st.sampled_from([0, 5, 1024, 2048]))
def test_plain_strings_answers_as_the_three_passes_did(values, limit):
    for value in values + values:          # the second time, key tuples may be remembered
        assert validate._plain_strings(value, limit) == _former_plain_strings(value, limit)


def test_plain_strings_memo_stays_bounded(monkeypatch):
    monkeypatch.setattr(validate, "_GOOD_KEYS", set())
    for i in range(3000):
        assert validate._plain_strings({f"k{i}": "v"}, 10)
        assert len(validate._GOOD_KEYS) <= validate._GOOD_KEYS_MAX
    assert not validate._plain_strings({"k1": "v" * 11}, 10)     # a remembered key tuple
    assert not validate._plain_strings({"k1": "v", "": "w"}, 10)
