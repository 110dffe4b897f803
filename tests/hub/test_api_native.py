"""secpipe's native routes (health, runs, run diffs, finding history) on the real server."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from secpipe.hub.interface import RunRecord
from tests.hub.test_api_support import (Hub, hub, iso, make_finding, raw_request,  # noqa: F401
                                        signed_request)

TOKEN = {"Authorization": "Bearer test-bearer-token"}


def _run(run_id: str, n_findings: int, hub: Hub) -> list[dict]:
    findings = [make_finding("native", n, stage="sast") for n in range(n_findings)]
    for f in findings:
        f["ProductFields"]["secpipe/RunId"] = run_id
    run = RunRecord(run_id=run_id, repo="native", branch="main", commit=run_id[-4:],
                    started_at=iso(), finished_at=iso(), status="passed", exit_code=0,
                    summary={"stages": ["sast"]}, scope=[("sast", "bandit")])
    hub.store.record_run(run, findings)
    return findings


@pytest.fixture(scope="module")
def two_runs(hub: Hub) -> tuple[list[dict], list[dict]]:
    first = _run("native-run-0001", 3, hub)
    second = _run("native-run-0002", 2, hub)     # finding #2 fixed
    return first, second


def test_health_is_open(hub: Hub) -> None:
    status, _, body = raw_request(hub.url + "/health")
    assert status == 200 and body["status"] == "ok"


def test_native_routes_need_auth(hub: Hub, two_runs) -> None:
    for path in ("/v1/runs", "/v1/runs/native-run-0001", "/v1/runs/native-run-0001/diff"):
        status, headers, body = raw_request(hub.url + path)
        assert status == 403 and body["Code"] == "MissingAuthenticationTokenException", path
        status, _, body = raw_request(hub.url + path,
                                      headers={"Authorization": "Bearer wrong-token"})
        assert status == 403 and body["Code"] == "UnrecognizedClientException", path


def test_runs_with_bearer_token_and_sigv4(hub: Hub, two_runs) -> None:
    status, _, body = raw_request(hub.url + "/v1/runs?repo=native&branch=main", headers=TOKEN)
    assert status == 200
    assert [r["run_id"] for r in body["runs"]] == ["native-run-0002", "native-run-0001"]
    assert body["runs"][0]["scope"] == [["sast", "bandit"]]
    status, _, signed = signed_request(hub, "GET", "/v1/runs?repo=native&branch=main")
    assert status == 200 and signed == body
    status, _, none = raw_request(hub.url + "/v1/runs?repo=nothing-here", headers=TOKEN)
    assert status == 200 and none["runs"] == []
    status, _, limited = raw_request(hub.url + "/v1/runs?repo=native&limit=1", headers=TOKEN)
    assert [r["run_id"] for r in limited["runs"]] == ["native-run-0002"]


def test_run_and_diff(hub: Hub, two_runs) -> None:
    first, second = two_runs
    status, _, run = raw_request(hub.url + "/v1/runs/native-run-0002", headers=TOKEN)
    assert status == 200 and run["repo"] == "native" and run["status"] == "passed"
    status, _, diff = raw_request(hub.url + "/v1/runs/native-run-0002/diff", headers=TOKEN)
    assert status == 200
    assert diff["run_id"] == "native-run-0002" and diff["baseline_run_id"] == "native-run-0001"
    assert diff["fixed"] == [first[2]["Id"]]
    assert sorted(diff["recurring"]) == sorted(f["Id"] for f in second) and diff["new"] == []


def test_finding_history(hub: Hub, two_runs) -> None:
    first, _ = two_runs
    fid = first[0]["Id"]                       # has '/' in it: secpipe/<tool>/<fingerprint>
    status, _, body = raw_request(f"{hub.url}/v1/findings/{quote(fid, safe='')}/history",
                                  headers=TOKEN)
    assert status == 200 and body["finding_id"] == fid and len(body["history"]) >= 2


def test_unknown_run_is_404_and_bad_limit_is_400(hub: Hub) -> None:
    status, headers, body = raw_request(hub.url + "/v1/runs/no-such-run", headers=TOKEN)
    assert status == 404 and headers["x-amzn-errortype"] == "ResourceNotFoundException"
    for bad in ("0", "x", "-1", "100000"):
        status, _, body = raw_request(hub.url + f"/v1/runs?limit={bad}", headers=TOKEN)
        assert status == 400 and body["Code"] == "InvalidInputException", bad


def test_security_hub_routes_refuse_the_bearer_token(hub: Hub) -> None:
    status, _, body = raw_request(hub.url + "/findings", "POST", b"{}", TOKEN)
    assert status == 403 and body["Code"] == "MissingAuthenticationTokenException"
