"""`validate_plain`'s one pass changes nothing `validate.check` decides: with it and without
it (the former `check_types`, `normalize`, `surely_valid` / `validate_asff` and timestamp
passes) `check` gives the same document (same members, order and types) or the same
BadFinding message. Checked on the filter fixtures and the pipeline's own documents (which
all take the one pass), on every member the passes read set to values at and around each
limit and of every JSON type, on generated mutations of them and on generated documents."""

from __future__ import annotations

import copy
import math
from collections import UserDict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secpipe.hub import validate
from secpipe.hub.validate import BadFinding, check
from tests.hub.filter_data import findings
from tests.hub.test_validate_fast import LIMIT_TEXTS, VALUES, _set, _text

DOCS = findings(60)


def _outcome(obj: Any) -> Any:
    try:
        return repr(check(obj))           # repr: members' order and types too
    except BadFinding as exc:
        return ("refused", str(exc))


def _former(obj: Any) -> Any:
    """`check` without the one pass."""
    real = validate._plain_check
    validate._plain_check = lambda obj: None
    try:
        return _outcome(obj)
    finally:
        validate._plain_check = real


def _agree(obj: Any) -> bool:
    """Same outcome both ways; True when the one pass answered."""
    took = validate._plain_check(copy.deepcopy(obj)) is not None
    assert _outcome(copy.deepcopy(obj)) == _former(copy.deepcopy(obj))
    return took


def _pipeline_doc() -> dict[str, Any]:
    """A document as `secpipe run` records it (outputs.asff's shape)."""
    return {
        "SchemaVersion": "2018-10-08", "Id": "secpipe/detect-secrets/6091",
        "ProductArn": "arn:aws:securityhub:us-east-1:000000000000:product/000000000000/default",
        "ProductName": "secpipe", "CompanyName": "secpipe",
        "GeneratorId": "detect-secrets/secret-keyword", "AwsAccountId": "000000000000",
        "Types": ["Sensitive Data Identifications/Security/Credentials",
                  "Effects/Data Exposure"],
        "CreatedAt": "2026-12-07T23:49:21.382Z", "UpdatedAt": "2026-12-07T23:49:21.382Z",
        "FirstObservedAt": "2026-12-07T23:49:21.382Z",
        "LastObservedAt": "2026-12-07T23:49:21.382Z",
        "Severity": {"Label": "HIGH", "Normalized": 70, "Original": "HIGH"},
        "Title": "Secret Keyword in conf/settings0.py: \u2026",
        "Description": "detect-secrets found a secret \u2026",
        "Resources": [{"Type": "Other", "Id": "conf/settings0.py", "Partition": "aws",
                       "Region": "us-east-1",
                       "Details": {"Other": {"path": "conf/settings0.py", "line": "1"}}}],
        "ProductFields": {"secpipe/Tool": "detect-secrets", "secpipe/Stage": "secrets"},
        "RecordState": "ACTIVE", "Workflow": {"Status": "NEW"},
        "Remediation": {"Recommendation": {"Text": "Revoke and rotate this credential."}},
    }


PATHS = [("Id",), ("GeneratorId",), ("Title",), ("Description",), ("AwsAccountId",),
         ("SchemaVersion",), ("ProductArn",), ("CreatedAt",), ("UpdatedAt",),
         ("FirstObservedAt",), ("LastObservedAt",), ("ProductName",), ("CompanyName",),
         ("Region",), ("SourceUrl",), ("RecordState",), ("VerificationState",),
         ("Severity",), ("Severity", "Label"), ("Severity", "Original"),
         ("Severity", "Normalized"), ("Severity", "Product"), ("Confidence",),
         ("Criticality",), ("Types",), ("Types", 0), ("Resources",), ("Resources", 0),
         ("Resources", 0, "Type"), ("Resources", 0, "Id"), ("Resources", 0, "Partition"),
         ("Resources", 0, "Region"), ("Resources", 0, "Tags"), ("Resources", 0, "Tags", "k"),
         ("ProductFields",), ("ProductFields", "k"), ("UserDefinedFields",),
         ("UserDefinedFields", "k"), ("Workflow",), ("Workflow", "Status"), ("Compliance",),
         ("Compliance", "Status"), ("Note",), ("Note", "Text"), ("Note", "UpdatedBy"),
         ("Note", "UpdatedAt"), ("Remediation",), ("Remediation", "Recommendation"),
         ("Remediation", "Recommendation", "Text"), ("Remediation", "Recommendation", "Url"),
         ("RelatedFindings",), ("RelatedFindings", 0), ("Sample",),
         ("FindingProviderFields",), ("FindingProviderFields", "Severity"),
         ("FindingProviderFields", "Types"), ("FindingProviderFields", "Confidence"),
         ("FindingProviderFields", "Criticality")]

EDGES = ([_text(n) for n in (0, 1, 11, 12, 13, 16, 17, 32, 33, 64, 65, 128, 129, 256, 257,
                             512, 513, 1024, 1025, 2048, 2049)]
         + [None, True, False, 0, 7, 100, 101, -1, 1.5, math.nan, math.inf, [], {}, ["x"],
            {"Text": "t"}, {"Status": "NEW"}, {"Status": "nope"}, {"Label": "LOW"},
            {"Id": "a", "ProductArn": "b"}, [{"Id": "a", "ProductArn": "b"}] * 11, "HIGH",
            "123456789012", "１２３４５６７８９０１２", "2024-01-01T00:00:00Z",
            "2024-13-01T00:00:00Z", "2024-01-01T00:00:00+25:00", "2024-01-01T00:00:00Z\n",
            "0000-01-01T00:00:00Z", "Nope/x", "TTPs/a/b/c", "Effects/a", "ACTIVE", "ARCHIVED",
            "UNKNOWN", "RESOLVED", "PASSED", "2018-10-08", "aws",
            "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default",
            {str(i): "v" for i in range(51)}, {"": "v"}, {"k": 1}, {"k" * 129: "v"}])


class _Str(str):
    pass


class _Map(UserDict):
    pass


def test_the_fixtures_and_the_pipelines_documents_take_the_one_pass_and_agree() -> None:
    for doc in [*DOCS, _pipeline_doc()]:
        assert _agree(doc)


def test_every_member_at_every_edge_gets_the_same_verdict_document_and_words() -> None:
    for base in (DOCS[0], DOCS[1], _pipeline_doc()):
        for path in PATHS:
            for value in EDGES:
                for delete in (False, True):
                    doc = copy.deepcopy(base)
                    _set(doc, path, copy.deepcopy(value), delete)
                    _agree(doc)
                    if delete:
                        break


@pytest.mark.parametrize("path", PATHS)
def test_subclasses_and_other_mappings_are_left_to_the_former_passes(path: tuple) -> None:
    for odd in (_Str("2018-10-08"), _Str("HIGH"), _Map({"Label": "HIGH"}), _Map()):
        doc = _pipeline_doc()
        _set(doc, path, odd, False)
        _agree(doc)
    assert not _agree(_Map(_pipeline_doc()))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(DOCS)),
       st.lists(st.tuples(st.sampled_from(PATHS), st.one_of(LIMIT_TEXTS, VALUES,
                                                            st.sampled_from(EDGES)),
                          st.booleans()), min_size=1, max_size=3))
def test_mutated_documents_get_the_same_verdict_document_and_words(i: int, edits: list) -> None:
    doc = copy.deepcopy(DOCS[i]) if i < len(DOCS) else _pipeline_doc()
    for path, value, delete in edits:
        _set(doc, path, copy.deepcopy(value), delete)
    _agree(doc)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([p[0] for p in PATHS]), VALUES, max_size=16))
def test_generated_documents_get_the_same_verdict_document_and_words(doc: dict) -> None:
    _agree(doc)
