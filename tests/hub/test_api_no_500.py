"""The 500s of issue 12, each now a documented 4xx (or a per-finding failure), on a real
server over SQLite and PostgreSQL: forged NextTokens, timestamps that overflow when turned
into UTC, and members of the wrong type in POST /v1/runs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from secpipe.hub.common import fingerprint
from tests.hub.test_api_support import (Hub, hub, iso, make_finding, raw_request, signed_request,  # noqa: F401
                                        repo_filter, signed_request)

TOKEN = {"Authorization": "Bearer test-bearer-token", "Content-Type": "application/json"}


def _token(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _error(answer: tuple, status: int = 400, code: str = "InvalidInputException") -> str:
    got, headers, body = answer
    assert got == status, answer
    assert headers.get("x-amzn-errortype") == code and body["Code"] == code
    return body["Message"]


@pytest.fixture(scope="module")
def seeded(hub: Hub) -> dict[str, Any]:
    docs = [make_finding("no500", n) for n in range(3)]
    assert hub.store.batch_import(docs).success_count == 3
    return {"Filters": repo_filter("no500"), "MaxResults": 1}


def test_a_real_token_pages_on(hub: Hub, seeded: dict[str, Any]) -> None:
    status, _, first = signed_request(hub, "POST", "/findings", json.dumps(seeded).encode())
    assert status == 200 and first["NextToken"]
    status, _, second = signed_request(hub, "POST", "/findings", json.dumps(
        {**seeded, "NextToken": first["NextToken"]}).encode())
    assert status == 200 and second["Findings"][0]["Id"] != first["Findings"][0]["Id"]


@pytest.mark.parametrize("case, values", [
    ("an object for a text key", [{"a": 1}, 1]),
    ("a list for the pk", ["2026-01-01T00:00:00.000000Z", [1]]),
    ("text for the pk", ["2026-01-01T00:00:00.000000Z", "1; DROP TABLE findings"]),
    ("a number for a text key", [5, 1]),
    ("a boolean for the pk", ["2026-01-01T00:00:00.000000Z", True]),
    ("a pk beyond 64 bits", ["2026-01-01T00:00:00.000000Z", 2**70]),
    ("a float for the pk", ["2026-01-01T00:00:00.000000Z", 1.5]),
    ("NUL in a text key", ["2026\u0000", 1]),
    ("a lone surrogate", ["\ud800", 1]),
    ("null for a key", [None, 1]),
])
def test_forged_next_tokens_are_invalid_input(hub: Hub, seeded: dict[str, Any], case: str,
                                              values: list[Any]) -> None:
    """The token's request digest is computable by anyone, so a client can forge a token that
    belongs to its request and carries sort values of any JSON type: they used to reach the
    database (a 500 on PostgreSQL); now they are InvalidInputException."""
    digest = fingerprint([seeded["Filters"], [{"Field": "UpdatedAt", "SortOrder": "desc"}], ""])
    forged = _token({"q": digest, "k": values})
    body = json.dumps({**seeded, "NextToken": forged}).encode()
    assert "NextToken" in _error(signed_request(hub, "POST", "/findings", body)), case


@pytest.mark.parametrize("token", [
    base64.urlsafe_b64encode(b"[" * 100_000).decode(),      # RecursionError in json.loads
    "\u00e9\u00e9\u00e9", "====", _token([1, 2]), _token({"q": 1}),
])
def test_garbled_next_tokens_are_invalid_input(hub: Hub, seeded: dict[str, Any],
                                               token: str) -> None:
    body = json.dumps({**seeded, "NextToken": token}).encode()
    assert "NextToken" in _error(signed_request(hub, "POST", "/findings", body))
    body = json.dumps({"NextToken": token}).encode()
    assert "NextToken" in _error(signed_request(hub, "POST", "/insights/get", body))


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00",
                                   "9999-12-31T23:30:00-00:31"])
def test_an_overflowing_timestamp_fails_only_its_finding(hub: Hub, stamp: str) -> None:
    """A stamp that is year 10000 (or year 0) once converted to UTC used to raise
    OverflowError and fail the whole BatchImportFindings with a 500."""
    for key in ("UpdatedAt", "CreatedAt", "FirstObservedAt", "LastObservedAt"):
        bad = {**make_finding("overflow", 0), key: stamp}
        good = make_finding("overflow", 1)
        body = json.dumps({"Findings": [bad, good]}).encode()
        status, _, answer = signed_request(hub, "POST", "/findings/import", body)
        assert status == 200, answer
        assert answer["SuccessCount"] == 1 and answer["FailedCount"] == 1
        failed = answer["FailedFindings"][0]
        assert failed["Id"] == bad["Id"] and key in failed["ErrorMessage"]


def _run_body(**run_changes: Any) -> dict[str, Any]:
    run = {"run_id": "no500-run", "repo": "no500", "branch": "main", "commit": "abc",
           "started_at": iso(), "finished_at": iso(), "status": "passed", "exit_code": 0,
           "summary": {}, "scope": [["sast", "bandit"]]}
    run.update(run_changes)
    return {"run": run, "findings": []}


@pytest.mark.parametrize("case, body, word", [
    ("run_id a number", _run_body(run_id=123), "run.run_id must be a string"),
    ("commit an object", _run_body(commit={"sha": "x"}), "run.commit must be a string"),
    ("started_at a list", _run_body(started_at=[1]), "run.started_at must be a string"),
    ("status too long", _run_body(status="x" * 17), "run.status must be at most 16"),
    ("commit of 10 KB", _run_body(commit="c" * 10_000), "run.commit must be at most 64"),
    ("exit_code text", _run_body(exit_code="1"), "exit_code"),
    ("exit_code a boolean", _run_body(exit_code=True), "exit_code"),
    ("exit_code 2**40", _run_body(exit_code=2**40), "exit_code"),
    ("summary a list", _run_body(summary=[1, 2]), "run.summary must be an object"),
    ("scope of numbers", _run_body(scope=[[1, 2]]), "run.scope"),
    ("scope a string", _run_body(scope="sast"), "run.scope"),
    ("base_branch a number", {**_run_body(), "base_branch": 7}, "base_branch"),
    ("NUL in the branch", _run_body(branch="ma\u0000in"), "NUL"),
    ("findings an object", {**_run_body(), "findings": {"a": 1}}, "body must be"),
    ("run missing members", {"run": {"run_id": "x"}, "findings": []}, "run needs"),
])
def test_run_type_confusion_is_400_with_a_message(hub: Hub, case: str, body: dict[str, Any],
                                                  word: str) -> None:
    # signed by the admin key: the token is `read` in these tests and may not record runs
    answer = signed_request(hub, "POST", "/v1/runs", json.dumps(body).encode())
    assert word in _error(answer), case


def test_a_well_formed_run_is_still_recorded(hub: Hub) -> None:
    body = {**_run_body(run_id="no500-ok"), "findings": [make_finding("no500run", 0), 5]}
    status, _, diff = signed_request(hub, "POST", "/v1/runs", json.dumps(body).encode())
    assert status == 200, diff
    assert len(diff["new"]) == 1 and len(diff["failed"]) == 1
