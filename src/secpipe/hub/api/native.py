"""secpipe's own routes: health, runs, run diffs, a finding's history.

Security Hub has no notion of runs; these are what lets a dashboard or a CI job ask "what did
this run change?". They answer the seam's dataclasses as JSON (snake_case, as the Python API
names them) and accept SigV4 or the hub's bearer token; `/health` is open so a load balancer
or `secpipe hub serve --wait` can probe it.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any

from starlette.routing import Route

from secpipe import __version__
from secpipe.hub import authz
from secpipe.hub.api.endpoint import Call, endpoint
from secpipe.hub.api.validate import run_body
from secpipe.hub.interface import InvalidInput


def _plain(value: Any) -> Any:
    """Dataclasses (RunRecord, RunDiff) as JSON-ready dicts; tuples as lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


def _limit(call: Call, default: int = 50, ceiling: int = 1000) -> int:
    raw = call.request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= ceiling:
        raise InvalidInput(f"limit must be an integer between 1 and {ceiling}; got {raw!r}")
    return int(raw)


async def health(call: Call) -> dict[str, Any]:
    return {"status": "ok", "service": "secpipe-hub", "version": __version__}


async def list_runs(call: Call) -> dict[str, Any]:
    params = call.request.query_params
    runs = await call.run(call.store.list_runs, params.get("repo") or None,
                          params.get("branch") or None, _limit(call))
    return {"runs": _plain(runs)}


async def get_run(call: Call) -> dict[str, Any]:
    return _plain(await call.run(call.store.get_run, call.path("run_id")))


async def run_diff(call: Call) -> dict[str, Any]:
    return _plain(await call.run(call.store.run_diff, call.path("run_id")))


async def finding_history(call: Call) -> dict[str, Any]:
    fid = call.path("finding_id")
    history = await call.run(call.store.finding_history, fid)
    return {"finding_id": fid, "history": _plain(history)}


async def record_run(call: Call) -> dict[str, Any]:
    """POST /v1/runs: what `secpipe run --hub http(s)://...` sends after a run."""
    from secpipe.hub.interface import RunRecord

    fields, findings, base_branch = run_body(call.body)
    record = RunRecord(**fields)
    # who may write this repo/branch (protected branches, key scope), before any finding is read
    authz.may_write_run(call.caller, str(record.repo), str(record.branch),
                        getattr(call.store, "policy", None) or authz.Policy())
    diff = await call.run(call.store.record_run, record, findings,
                          base_branch=base_branch, principal=call.caller)
    return _plain(diff)


async def baseline(call: Call) -> dict[str, Any]:
    """GET /v1/baseline?repo=&branch=: Ids of the branch's latest run (for new-only gates)."""
    params = call.request.query_params
    repo, branch = params.get("repo"), params.get("branch")
    if not repo or not branch:
        raise InvalidInput("repo and branch are required")
    ids = await call.run(call.store.baseline_ids, repo, branch)
    return {"repo": repo, "branch": branch, "ids": sorted(ids)}


def routes() -> list[Route]:
    def native(handler: Any, operation: str) -> Any:
        return endpoint(handler, operation=operation, bearer=True, json_body=False)

    return [
        Route("/health", endpoint(health, public=True, json_body=False), methods=["GET"]),
        Route("/v1/runs", native(list_runs, "ListRuns"), methods=["GET"]),
        Route("/v1/runs", endpoint(record_run, operation="RecordRun", bearer=True),
              methods=["POST"]),
        Route("/v1/baseline", native(baseline, "GetBaseline"), methods=["GET"]),
        Route("/v1/runs/{run_id}/diff", native(run_diff, "GetRunDiff"), methods=["GET"]),
        Route("/v1/runs/{run_id}", native(get_run, "GetRun"), methods=["GET"]),
        Route("/v1/findings/{finding_id:path}/history",
              native(finding_history, "GetFindingHistory"), methods=["GET"]),
    ]
