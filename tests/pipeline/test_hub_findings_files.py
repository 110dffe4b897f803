"""A run with a hub writes findings.asff.json and findings.ocsf.json as the hub takes each
document (`FindingsFiles.passing`), where it used to build every document first, record the
list, then write the files from that list. Both give the same bytes: the files equal those the
former path writes from the list the hub was given, after the recording (the hub changes no
document it is given), on a new hub, a re-run and a run the hub's automation rules suppress."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from secpipe.outputs.ocsf import write_findings_files
from secpipe.pipeline import api
from secpipe.pipeline.api import RunRequest, run_pipeline
from tests.pipeline.test_scrub_early import VALUES, project

FILES = ("findings.asff.json", "findings.ocsf.json")
SUPPRESS_LOW = {
    "RuleOrder": 1, "RuleName": "low", "Description": "accepted",
    "Criteria": {"SeverityLabel": [{"Value": "LOW", "Comparison": "EQUALS"}]},
    "Actions": [{"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {
        "Workflow": {"Status": "SUPPRESSED"}, "Confidence": 7,
        "Note": {"Text": "accepted by rule", "UpdatedBy": "rules"}}}]}


def test_the_findings_files_are_the_former_paths_bytes(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    repo = project(tmp_path, monkeypatch)
    out = tmp_path / "out"
    given: list[tuple[list[dict], list[dict]]] = []
    record = api.hub_record

    def listing(store, run, findings, summary) -> None:
        """The former path: every document in a list before the hub reads it."""
        docs = list(findings)
        before = copy.deepcopy(docs)
        record(store, run, docs, summary)
        given.append((docs, before))

    monkeypatch.setattr(api, "hub_record", listing)
    for n in range(3):
        if n == 2:
            from secpipe.hub.store import open_store

            hub = open_store(str(out / "hub.db"))
            hub.create_automation_rule(SUPPRESS_LOW)
            hub.close()
        result = run_pipeline(RunRequest(root=repo, out_dir=out))
        assert sum(len(s.findings) for s in result.stages) == len(VALUES) + 7
        docs, before = given[-1]
        assert docs == before                   # the hub changes nothing it is given
        former = tmp_path / f"former-{n}"
        write_findings_files(result, former, docs)
        for name in FILES:
            assert (Path(result.run_dir) / name).read_bytes() == (former / name).read_bytes()
        assert not [p for p in Path(result.run_dir).iterdir() if p.name.endswith(".tmp")]
    suppressed = [g for s in result.stages for g in s.findings if g.suppressed_by is not None]
    assert suppressed and all(g.suppressed_by.source == "hub" for g in suppressed)
