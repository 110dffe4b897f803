"""The run's OCSF path (`secpipe.model.ocsf_own`) gives the general mapping's event exactly.

`ocsf_own.asff_to_ocsf` takes a direct path for documents of the shape `to_asff` writes and
the general `secpipe.model.ocsf.asff_to_ocsf` for anything else. Both must give the same event
with the same key order (findings.ocsf.json is compared byte for byte between versions), so
every check compares the two events' JSON text: on real reports' findings of every OCSF class
(suppressed, resolved and archived ones too), and on documents mutated member by member into
every edge `_drop_empty` and the class rules distinguish.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from secpipe.formats import get_format
from secpipe.model import to_asff
from secpipe.model.ocsf import asff_to_ocsf as general
from secpipe.model.ocsf_own import OWN_SHAPE, asff_to_ocsf as own, own_shape_event
from secpipe.pipeline.identity import assign_identities
from tests.asserts import CTX
from tests.conftest import OWN_FIXTURES, SHARED_FIXTURES

REPORTS = [
    ("detect-secrets", OWN_FIXTURES / "detect-secrets" / "example-web.json"),
    ("checkov", OWN_FIXTURES / "checkov" / "example-web.json"),
    ("ecr", OWN_FIXTURES / "ecr" / "enhanced.json"),
    ("grype", SHARED_FIXTURES / "anchore_grype" / "many_vulns3.json"),
    ("semgrep", SHARED_FIXTURES / "semgrep" / "cwe_list.json"),
    ("falco", SHARED_FIXTURES / "falco" / "single_rule_with_cat_write.json"),
]


def _docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for fmt, path in REPORTS:
        if path.is_file():
            findings = assign_identities(get_format(fmt).parse(path.read_bytes(), path.name))
            docs += [to_asff(f, CTX) for f in findings[:40]]
    assert docs, "no report to build documents from"
    return docs


DOCS = _docs()


def _text(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False)


def _same(doc: dict[str, Any]) -> None:
    before = copy.deepcopy(doc)
    try:
        want = _text(general(doc))
    except Exception as exc:  # noqa: BLE001 - the direct path must fail the same way
        with pytest.raises(type(exc)):
            own(doc)
        return
    assert _text(own(doc)) == want
    assert doc == before  # neither path changes its input


def test_real_findings_of_every_class_take_the_direct_path_and_give_the_same_event() -> None:
    classes = set()
    for doc in DOCS:
        assert doc.keys() <= OWN_SHAPE
        event = own_shape_event(doc)
        assert _text(event) == _text(general(doc))
        classes.add(event["class_uid"])
    assert {2003, 2004} <= classes
    if (SHARED_FIXTURES / "semgrep").is_dir():
        assert 2002 in classes


@pytest.mark.parametrize("workflow, note", [
    ({"Status": "SUPPRESSED"}, {"Text": "Suppressed by secpipe: x", "UpdatedBy": "secpipe",
                                "UpdatedAt": "2026-01-01T00:00:00.000Z"}),
    ({"Status": "RESOLVED"}, None), ({"Status": "NOTIFIED"}, None), ({}, None),
    ({"Status": "ODD"}, None),
])
def test_workflow_states(workflow: dict[str, str], note: dict[str, str] | None) -> None:
    for doc in DOCS[::7]:
        changed = dict(doc, Workflow=workflow)
        if note:
            changed["Note"] = note
        _same(changed)
        _same(dict(changed, RecordState="ARCHIVED"))


# values that `_drop_empty` keeps or drops differently: empty, zero, False, None, NaN
EDGE = st.sampled_from([None, "", 0, 0.0, False, True, [], {}, "x", 1, -1, 2.5, math.nan,
                        "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.123456Z", "not a time",
                        ["a", 1, None], {"k": "v"}])
MEMBERS = sorted(OWN_SHAPE) + ["Compliance", "ProcessedAt", "SourceUrl", "Region"]
SUB_MEMBERS = {
    "ProductFields": ["secpipe/Category", "secpipe/CWE", "secpipe/Tool", "secpipe/RuleId"],
    "Severity": ["Label"], "Workflow": ["Status"],
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0, max_value=len(DOCS) - 1),
       changes=st.lists(st.tuples(st.sampled_from(MEMBERS), EDGE), max_size=4),
       sub=st.lists(st.tuples(st.sampled_from(sorted(SUB_MEMBERS)), st.integers(0, 3), EDGE),
                    max_size=3),
       category=st.sampled_from([None, "code", "misconfiguration", "compliance", "secret", ""]),
       resources=st.integers(0, 3), drop=st.lists(st.sampled_from(MEMBERS), max_size=3))
def test_mutated_documents_give_the_same_event(index: int, changes: list, sub: list,
                                               category: str | None, resources: int,
                                               drop: list[str]) -> None:
    doc = copy.deepcopy(DOCS[index])
    if category is not None:
        doc["ProductFields"]["secpipe/Category"] = category
        doc["ProductFields"]["secpipe/CWE"] = "CWE-79,CWE-89"
    doc["Resources"] = (doc["Resources"] * 3)[:resources] + [
        {"Type": "", "Id": "", "Region": ""}][: int(resources == 0)]
    for key, value in changes:
        doc[key] = copy.deepcopy(value)
    for key, n, value in sub:
        if isinstance(doc.get(key), dict):
            doc[key][SUB_MEMBERS[key][n % len(SUB_MEMBERS[key])]] = copy.deepcopy(value)
    for key in drop:
        doc.pop(key, None)
    _same(doc)


# numbers orjson writes otherwise than the standard encoder, where a document can hold them
ODD_NUMBERS = st.sampled_from([1e-05, 2.5e-07, 1e16, -4.4e-05, math.nan, math.inf, 7.5,
                               "1e-5", "7.5", 40, None])
_STD = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0, max_value=len(DOCS) - 1),
       changes=st.lists(st.tuples(st.sampled_from(MEMBERS), st.one_of(EDGE, ODD_NUMBERS)),
                        max_size=3),
       score=st.one_of(st.none(), ODD_NUMBERS), normalized=ODD_NUMBERS,
       drop=st.lists(st.sampled_from(MEMBERS), max_size=2))
def test_the_findings_writer_encodes_both_as_the_standard_encoder(
        index: int, changes: list, score: Any, normalized: Any, drop: list[str]) -> None:
    """outputs.ocsf._encoded scans orjson's text of the document only, and trusts the event
    of a document that passed: both must still be the standard encoder's bytes, whatever
    numbers the document holds (Vulnerabilities' scores as text included)."""
    from secpipe.outputs.ocsf import _encoded

    doc = copy.deepcopy(DOCS[index])
    doc["Severity"]["Normalized"] = normalized
    if score is not None:
        doc["Vulnerabilities"] = [{"Id": "CVE-1", "Cvss": [{"BaseScore": score}]}]
    for key, value in changes:
        doc[key] = copy.deepcopy(value)
    for key in drop:
        doc.pop(key, None)
    try:
        want = (_STD(doc).encode("utf-8"), _STD(own(doc)).encode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - the writer must fail the same way
        with pytest.raises(type(exc)):
            _encoded(doc)
        return
    assert _encoded(doc) == want


def test_other_shapes_take_the_general_path() -> None:
    doc = DOCS[0]
    for odd in (dict(doc, Compliance={"Status": "PASSED"}), dict(doc, ProcessedAt=doc["UpdatedAt"]),
                dict(doc, Severity=None), dict(doc, Types=("a",)), dict(doc, Workflow=None)):
        _same(odd)
    with pytest.raises(KeyError):   # the direct path reads the members the guard vouched for
        own_shape_event({k: v for k, v in doc.items() if k != "ProductFields"})


def test_the_run_writer_uses_it(tmp_path: Path) -> None:
    import secpipe.outputs.ocsf as writer

    assert writer.asff_to_ocsf is own
