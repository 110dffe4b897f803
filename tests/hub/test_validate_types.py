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
