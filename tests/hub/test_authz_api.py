"""Roles, scopes, trusted baselines, import rules and the audit trail, against the real hub
(uvicorn on loopback, SQLite and PostgreSQL), through boto3, the remote-hub client `secpipe run`
uses, and raw signed requests."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from botocore.exceptions import ClientError

from secpipe.hub import authz
from secpipe.hub.api import create_app, running_server
from secpipe.hub.authz import Scope
from secpipe.hub.client import RemoteHub
from secpipe.hub.interface import AccessDenied, RunRecord
from secpipe.hub.store import open_store
from secpipe.model import Finding, Location, Severity, SourceContext
from secpipe.model.asff import finding_id, to_asff
from secpipe.pipeline.gate import judge_findings
from tests.hub.test_api_support import REGION, Hub, raw_request

ACCOUNT = "000000000000"
ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
ARN_B = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/team-b"
TOKEN = "authz-tests-runtime-token"


def stamp(delta: timedelta = timedelta()) -> str:
    t = datetime.now(timezone.utc) + delta
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def ctx(repo: str, branch: str = "main", run_id: str = "r") -> SourceContext:
    return SourceContext(repo=repo, branch=branch, commit="c0ffee", run_id=run_id, stage="sast",
                         tool_version="1")


def bandit(repo: str, n: int) -> Finding:
    return Finding(tool="bandit", rule_id="B101", title=f"assert #{n}", severity=Severity.HIGH,
                   location=Location(f"src/m{n}.py", n), location_key=f"{repo}-{n}")


def secret(repo: str) -> Finding:
    return Finding(tool="bandit", rule_id="B105", title="AWS secret key in settings.py",
                   severity=Severity.CRITICAL, location=Location("settings.py", 3),
                   location_key=f"{repo}-secret")


def asff(f: Finding, repo: str, branch: str = "main", *, arn: str = ARN,
         updated: str | None = None, **extra: Any) -> dict[str, Any]:
    doc = to_asff(f, ctx(repo, branch), updated_at=updated or stamp())
    doc["ProductArn"] = arn
    doc.update(extra)
    return doc


def run_record(run_id: str, repo: str, branch: str) -> RunRecord:
    return RunRecord(run_id=run_id, repo=repo, branch=branch, commit="c0ffee",
                     started_at=stamp(), finished_at=stamp(), status="passed", exit_code=0,
                     summary={}, scope=[("sast", "bandit")])


class Keys(dict):
    """name -> (key id, secret)."""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request, tmp_path_factory) -> Iterator[tuple[Hub, Keys]]:
    pg = None
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("authz") / "hub.db")
    else:
        pg = request.getfixturevalue("pg_server")
        url = pg.new_url()
    store = open_store(url)
    made = Keys()
    for name, role, scope in [
        ("admin", "admin", Scope()),
        ("ci-main", "ci", Scope.of(["acme/*"], ["main"])),
        ("ci-feature", "ci", Scope.of(["acme/*"], ["feature/*"])),
        ("ci-any", "ci", Scope.of(["acme/*"])),                   # every branch but protected
        ("ci-a", "ci", Scope.of(["acme/a"], ["feature/*", "main"])),
        ("ci-b", "ci", Scope.of(["acme/b"], ["feature/*"], [ARN_B])),
        ("triage", "triage", Scope()),
        ("triage-b", "triage", Scope.of(["acme/b"])),
        ("read", "read", Scope()),
        ("runtime", "runtime", Scope()),
    ]:
        made[name] = store.create_access_key(name, role=role, scope=scope)
    app = create_app(store, token=TOKEN)      # the token's role: runtime (the default)
    try:
        with running_server(app) as base:
            yield Hub(base, store, *made["admin"]), made
    finally:
        store.close()
        if pg is not None:
            pg.drop(url)


def client(hub: Hub, keys: Keys, name: str):
    akid, secret = keys[name]
    return hub.client(key_id=akid, secret=secret)


def remote(hub: Hub, keys: Keys, name: str, monkeypatch) -> RemoteHub:
    akid, secret = keys[name]
    monkeypatch.setenv("SECPIPE_HUB_ACCESS_KEY_ID", akid)
    monkeypatch.setenv("SECPIPE_HUB_SECRET_ACCESS_KEY", secret)
    monkeypatch.delenv("SECPIPE_HUB_TOKEN", raising=False)
    return RemoteHub(hub.url)


def stored(hub: Hub, doc: dict[str, Any]) -> dict[str, Any]:
    return hub.store.get_finding(doc["Id"], doc["ProductArn"])


# --- trusted baselines -----------------------------------------------------------------------
def test_feature_key_cannot_record_main_and_the_new_only_gate_still_fails(hub, monkeypatch):
    h, keys = hub
    repo = "acme/web"
    old = bandit(repo, 1)
    main = remote(h, keys, "ci-main", monkeypatch)
    main.record_run(run_record("web-main-1", repo, "main"), [asff(old, repo)])

    # The attack: one fake `main` run that already has the feature branch's new secret.
    fake = [asff(old, repo), asff(secret(repo), repo)]
    for name, why in (("ci-feature", "may not record runs for branch 'main'"),
                      ("ci-any", "branch 'main' is protected")):
        attacker = remote(h, keys, name, monkeypatch)
        with pytest.raises(AccessDenied, match=why):
            attacker.record_run(run_record(f"fake-{name}", repo, "main"), fake)
    body = json.dumps({"run": {**run_record("fake-raw", repo, "main").__dict__},
                       "findings": fake}).encode()
    from tests.hub.test_api_support import signed_request
    status, headers, answer = signed_request(
        Hub(h.url, h.store, *keys["ci-feature"]), "POST", "/v1/runs", body)
    assert status == 403 and headers["x-amzn-errortype"] == "AccessDeniedException"
    assert "runs:write" not in answer["Message"] and "feature/*" in answer["Message"]

    # The feature branch's own run is fine, and its new_only gate (baseline: main) still
    # blocks the new secret: main's baseline holds only what main's own key recorded.
    feature = remote(h, keys, "ci-feature", monkeypatch)
    baseline = feature.baseline_ids(repo, "main")
    assert finding_id(old, ctx(repo)) in baseline
    gated = {g.finding.rule_id: g for g in judge_findings(
        [old, secret(repo)], stage="sast", fail_on=Severity.HIGH, suppressions=[],
        ctx=ctx(repo, "feature/x"), baseline=baseline, new_only=True)}
    assert gated["B105"].blocking and not gated["B101"].blocking
    diff = feature.record_run(run_record("web-feature-1", repo, "feature/x"),
                              [asff(old, repo, "feature/x"), asff(secret(repo), repo, "feature/x")],
                              base_branch="main")
    assert diff.baseline_run_id == "web-main-1"
    assert [r.run_id for r in h.store.list_runs(repo, "main")] == ["web-main-1"]


def test_runs_written_by_a_key_the_branch_no_longer_trusts_are_not_a_baseline(hub):
    """A run recorded on `release/9` by a wildcard ci key before release/* was protected (or
    by a migrated `legacy` writer that lost trust) is not main's baseline any more."""
    h, _ = hub
    repo = "acme/rel"
    h.store.record_run(run_record("rel-1", repo, "release/9"), [asff(bandit(repo, 1), repo)])
    with h.store._write() as conn:     # what a run written under an older policy looks like
        from sqlalchemy import update

        from secpipe.hub.schema import runs as R
        conn.execute(update(R).where(R.c.run_id == "rel-1").values(
            writer_role="ci", writer_scope=json.dumps(Scope.of(["acme/*"]).to_json()),
            principal="SPKOLDWILDCARDKEY000"))
    assert h.store.baseline_ids(repo, "release/9") == set()
    h.store.record_run(run_record("rel-2", repo, "release/9"), [asff(bandit(repo, 2), repo)])
    assert h.store.baseline_ids(repo, "release/9") == {finding_id(bandit(repo, 2), ctx(repo))}


# --- who may touch whose findings ------------------------------------------------------------
def test_key_b_cannot_update_archive_or_precreate_key_a_findings(hub, monkeypatch):
    h, keys = hub
    a, b = client(h, keys, "ci-a"), client(h, keys, "ci-b")
    fa = asff(bandit("acme/a", 1), "acme/a", updated=stamp(-timedelta(hours=1)))
    assert a.batch_import_findings(Findings=[fa])["SuccessCount"] == 1
    before = stored(h, fa)

    # update: the same finding, newer, archived and re-labelled, claimed for repo b
    hijack = {**fa, "UpdatedAt": stamp(), "RecordState": "ARCHIVED", "Title": "nothing here",
              "ProductFields": {**fa["ProductFields"], "secpipe/Repo": "acme/b"}}
    out = b.batch_import_findings(Findings=[hijack, {**hijack, "ProductArn": ARN_B,
                                                     "Id": "b-own-1"}])
    assert out["SuccessCount"] == 1
    assert [(f["Id"], f["ErrorCode"]) for f in out["FailedFindings"]] == [
        (fa["Id"], "AccessDenied")]
    assert stored(h, fa) == before
    # ... nor under repo a's name, nor under a ProductArn outside its scope
    out = b.batch_import_findings(Findings=[{**asff(bandit("acme/a", 7), "acme/a",
                                                    arn=ARN_B)},
                                            asff(bandit("acme/b", 8), "acme/b")])
    assert [f["ErrorMessage"] for f in out["FailedFindings"]] == [
        f"{keys['ci-b'][0]} (role ci) may not import findings of repository 'acme/a'",
        f"{keys['ci-b'][0]} (role ci) may not import under ProductArn {ARN} "
        f"(its scope: {ARN_B})"]

    # pre-create: a finding born SUPPRESSED / RESOLVED needs triage
    future_a = asff(bandit("acme/b", 9), "acme/b", arn=ARN_B,
                    Workflow={"Status": "SUPPRESSED"})
    out = b.batch_import_findings(Findings=[future_a, {**future_a, "Id": "b-resolved",
                                                       "Workflow": {"Status": "RESOLVED"}}])
    assert out["SuccessCount"] == 0 and {f["ErrorCode"] for f in out["FailedFindings"]} == {
        "AccessDenied"}
    assert "findings:update" in out["FailedFindings"][0]["ErrorMessage"]

    # update through triage: ci has no BatchUpdateFindings at all; a triage key scoped to
    # repo b gets a's finding back unprocessed
    with pytest.raises(ClientError) as err:
        b.batch_update_findings(FindingIdentifiers=[{"Id": fa["Id"], "ProductArn": ARN}],
                                Workflow={"Status": "SUPPRESSED"})
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    out = client(h, keys, "triage-b").batch_update_findings(
        FindingIdentifiers=[{"Id": fa["Id"], "ProductArn": ARN}],
        Workflow={"Status": "SUPPRESSED"})
    assert out["ProcessedFindings"] == [] and \
        out["UnprocessedFindings"][0]["ErrorCode"] == "AccessDenied"
    assert stored(h, fa) == before


def test_a_run_archives_only_findings_under_its_own_product_arns(hub, monkeypatch):
    h, keys = hub
    repo = "acme/b"
    mine = asff(bandit(repo, 20), repo, "feature/z", arn=ARN_B)
    theirs = asff(bandit(repo, 21), repo, "feature/z", arn=ARN)
    h.store.record_run(run_record("b-1", repo, "feature/z"), [mine, theirs])   # admin
    diff = remote(h, keys, "ci-b", monkeypatch).record_run(
        run_record("b-2", repo, "feature/z"), [])          # nothing found: all "fixed"?
    assert diff.fixed == [mine["Id"]]
    assert stored(h, mine)["RecordState"] == "ARCHIVED"
    assert stored(h, theirs)["RecordState"] == "ACTIVE"


# --- roles and denials -----------------------------------------------------------------------
def test_boto3_gets_access_denied_naming_the_missing_permission(hub):
    h, keys = hub
    doc = asff(bandit("acme/x", 30), "acme/x")
    cases = [("read", lambda c: c.batch_import_findings(Findings=[doc]), "findings:import"),
             ("ci-any", lambda c: c.get_findings(), "findings:read"),
             ("runtime", lambda c: c.get_findings(), "findings:read"),
             ("read", lambda c: c.create_insight(Name="x", Filters={}, GroupByAttribute="Type"),
              "insights:write"),
             ("triage", lambda c: c.enable_security_hub(), "hub:admin"),
             ("read", lambda c: c.batch_update_findings(
                 FindingIdentifiers=[{"Id": doc["Id"], "ProductArn": ARN}],
                 Note={"Text": "x", "UpdatedBy": "x"}), "findings:update")]
    for name, call, permission in cases:
        with pytest.raises(ClientError) as err:
            call(client(h, keys, name))
        resp = err.value.response
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 403, name
        assert resp["Error"]["Code"] == "AccessDeniedException", name
        assert permission in resp["Error"]["Message"] and keys[name][0] in resp["Error"]["Message"]
    # and what the roles may do, they can
    assert client(h, keys, "read").get_findings(MaxResults=1)["Findings"] is not None
    assert client(h, keys, "ci-any").batch_import_findings(Findings=[doc])["SuccessCount"] == 1


def test_the_runtime_token_feeds_falco_and_nothing_else(hub):
    h, _ = hub
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    status, headers, body = raw_request(h.url + "/v1/runs", headers=bearer)
    assert status == 403 and body["Code"] == "AccessDeniedException"
    assert "runs:read" in body["Message"] and "role runtime" in body["Message"]
    run = {"run": run_record("tok-1", "acme/web", "feature/t").__dict__, "findings": []}
    status, _, body = raw_request(h.url + "/v1/runs", "POST", json.dumps(run).encode(),
                                  {**bearer, "Content-Type": "application/json"})
    assert status == 403 and "runs:write" in body["Message"]
    assert h.store.list_runs("acme/web", "feature/t") == []


def test_every_route_names_an_operation_in_the_table(hub):
    from secpipe.hub.api.server import dashboard_routes
    from secpipe.runtime.intake import routes as falco_routes

    h, _ = hub
    falco = falco_routes(h.store)
    try:
        app = create_app(h.store, token=TOKEN,
                         extra_routes=[*falco, *dashboard_routes(h.store)])
        seen = 0
        for route in app.routes:
            endpoint = getattr(route, "endpoint", None)
            if endpoint is None or not hasattr(endpoint, "public"):
                continue                   # the dashboard mount: checked by its own tests
            seen += 1
            if endpoint.public:
                assert route.path in ("/health", "/falco", "/falco/"), route.path
                continue
            ops = endpoint.operation
            for op in (ops.values() if isinstance(ops, dict) else [ops]):
                assert authz.OPERATIONS[op] in authz.PERMISSIONS, (route.path, op)
        assert seen >= 18
        # a method the route answers implicitly (HEAD of a GET) takes the GET's permission
        with running_server(app) as base:
            status, _, _ = raw_request(base + "/v1/runs/nope/images", "HEAD",
                                       headers={"Authorization": f"Bearer {TOKEN}"})
            assert status == 403
    finally:
        falco.intake.close()
    with pytest.raises(ValueError):
        from secpipe.hub.api.app import endpoint as make

        async def handler(call):  # pragma: no cover - never called
            return {}
        make(handler)                       # no operation: refused when the route is built


# --- import rules: timestamps ----------------------------------------------------------------
def test_a_finding_frozen_in_9999_is_refused_and_later_scanner_updates_apply(hub):
    h, keys = hub
    ci = client(h, keys, "ci-any")
    doc = asff(bandit("acme/t", 40), "acme/t", updated=stamp(-timedelta(days=1)))
    assert ci.batch_import_findings(Findings=[doc])["SuccessCount"] == 1
    frozen = {**doc, "UpdatedAt": "9999-12-31T23:59:59.000Z", "Title": "frozen"}
    bad_years = [{**doc, "UpdatedAt": "0001-01-01T00:00:00Z"},
                 {**doc, "CreatedAt": "1969-12-31T23:59:59Z"},
                 {**doc, "UpdatedAt": "9999-12-31T23:59:59-05:00"},
                 {**doc, "LastObservedAt": "0001-01-01T00:00:00+05:00"},
                 {**doc, "CreatedAt": stamp(timedelta(hours=25))}]
    out = ci.batch_import_findings(Findings=[frozen, *bad_years])
    assert out["SuccessCount"] == 0 and out["FailedCount"] == 6
    messages = [f["ErrorMessage"] for f in out["FailedFindings"]]
    assert "more than 24 h in the future" in messages[0]
    assert all("outside the years 1970-9999" in m for m in messages[1:5]), messages
    assert "CreatedAt" in messages[5] and "future" in messages[5]
    assert stored(h, doc)["Title"] == doc["Title"]
    # the real scanner's next updates apply
    for n, title in enumerate(("rescanned", "rescanned again")):
        newer = {**doc, "UpdatedAt": stamp(timedelta(seconds=n)), "Title": title}
        assert ci.batch_import_findings(Findings=[newer])["SuccessCount"] == 1
        assert stored(h, doc)["Title"] == title
    # within the skew is fine
    soon = {**doc, "UpdatedAt": stamp(timedelta(hours=23)), "Title": "clock ahead"}
    assert ci.batch_import_findings(Findings=[soon])["SuccessCount"] == 1


# --- the audit trail -------------------------------------------------------------------------
def test_the_audit_log_names_the_key_for_every_change(hub, monkeypatch, caplog):
    h, keys = hub
    caplog.set_level(logging.INFO, logger="secpipe.hub.access")
    repo = "acme/audit"
    doc = asff(bandit(repo, 50), repo)
    ci, triage, admin = (client(h, keys, n) for n in ("ci-any", "triage", "admin"))
    assert ci.batch_import_findings(Findings=[doc])["SuccessCount"] == 1
    triage.batch_update_findings(FindingIdentifiers=[{"Id": doc["Id"], "ProductArn": ARN}],
                                 Workflow={"Status": "SUPPRESSED"},
                                 Note={"Text": "accepted", "UpdatedBy": "mallory"})
    arn = triage.create_insight(Name="audit", Filters={}, GroupByAttribute="Type")["InsightArn"]
    triage.update_insight(InsightArn=arn, Name="audit 2")
    admin.delete_insight(InsightArn=arn)
    remote(h, keys, "ci-any", monkeypatch).record_run(
        run_record("audit-run-1", repo, "feature/a"), [asff(bandit(repo, 51), repo)])
    akid, _ = h.store.create_access_key("made by admin", role="read",
                                        principal=authz.Principal("sigv4", keys["admin"][0],
                                                                  role="admin"))

    log = h.store.audit_log(limit=50)
    def who(action: str) -> str:
        return next(r["principal"] for r in log if r["action"] == action)
    assert who("BatchImportFindings") == keys["ci-any"][0]
    assert who("BatchUpdateFindings") == keys["triage"][0]
    assert who("CreateInsight") == who("UpdateInsight") == keys["triage"][0]
    assert who("DeleteInsight") == keys["admin"][0]
    assert who("RecordRun") == keys["ci-any"][0]
    assert who("CreateAccessKey") == keys["admin"][0]
    update = next(r for r in log if r["action"] == "BatchUpdateFindings")
    assert update["targets"] == [doc["Id"]] and update["before"] != update["after"] != ""
    assert update["source"] == "127.0.0.1" and update["role"] == "triage"
    assert [r["action"] for r in h.store.audit_log(finding=doc["Id"])] == [
        "BatchUpdateFindings", "BatchImportFindings"]
    # the history's actor is the key; Note.UpdatedBy stays the caller's data
    history = h.store.finding_history(doc["Id"])
    assert [e["actor"] for e in history if e["kind"] == "update"] == [keys["triage"][0]]
    assert stored(h, doc)["Note"]["UpdatedBy"] == "mallory"
    # one access line per request, with the key id
    lines = [r.getMessage() for r in caplog.records if r.name == "secpipe.hub.access"]
    assert any(f"key={keys['triage'][0]} role=triage op=BatchUpdateFindings" in line
               and " 200 " in line for line in lines), lines[-5:]
