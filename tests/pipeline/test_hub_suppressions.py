"""The gate honours the hub: `secpipe run` of the example, recorded to a hub, passes over a
finding the hub holds SUPPRESSED (by triage through BatchUpdateFindings, or by an automation
rule), names the suppression, blocks again once it expired, and blocks with
--ignore-hub-suppressions. A suppression written by a role that may not triage never counts.

Real everything: the CLI in a subprocess with the real hadolint (the example's dockerfile stage
has exactly one blocking finding, DL3020), the hub's SQLite file shared with a real server that
boto3 talks to with a triage key.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from secpipe.hub.api import create_app, running_server
from secpipe.hub.api.isolation import UNLIMITED
from secpipe.hub.authz import Principal
from secpipe.hub.store import open_store
from secpipe.tools import tool_env
from tests.conftest import ROOT

boto3 = pytest.importorskip("boto3")

pytestmark = pytest.mark.tools

EXAMPLE = ROOT / "examples" / "web"
BLOCKING = "hadolint/DL3020"          # the dockerfile stage's one blocking finding
FUTURE, PAST = "2999-01-01T00:00:00Z", "2000-01-01T00:00:00Z"
DASHBOARD_PASSWORD = "correct horse battery staple"


class Hub:
    """The run's hub file, a server on it, and a boto3 client with a triage key."""

    def __init__(self, db: Path, url: str, key: tuple[str, str]) -> None:
        self.db, self.store, self.key_id, self.url = db, open_store(db), key[0], url
        self.client = boto3.client("securityhub", endpoint_url=url, region_name="us-east-1",
                                   aws_access_key_id=key[0], aws_secret_access_key=key[1])

    def finding(self) -> dict[str, Any]:
        found = self.client.get_findings(Filters={"GeneratorId": [
            {"Value": BLOCKING, "Comparison": "EQUALS"}]})["Findings"]
        assert len(found) == 1, found
        return found[0]

    def update(self, **changes: Any) -> None:
        f = self.finding()
        answer = self.client.batch_update_findings(
            FindingIdentifiers=[{"Id": f["Id"], "ProductArn": f["ProductArn"]}], **changes)
        assert answer["ProcessedFindings"], answer


@pytest.fixture
def web(tmp_path: Path) -> Path:
    if not shutil.which("hadolint", path=tool_env()["PATH"]):
        pytest.fail("hadolint is not installed: run `secpipe tools install` (make test does)")
    dest = tmp_path / "web"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("node_modules", "build",
                                                                 ".secpipe"))
    return dest


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    from secpipe.hub.dashboard import routes

    db = tmp_path / "hub.db"
    store = open_store(db)
    key = store.create_access_key("triage desk", role="triage")
    store.set_user_password("alice", DASHBOARD_PASSWORD, role="triage")
    app = create_app(store, limits=UNLIMITED, extra_routes=routes(store))
    try:
        with running_server(app) as url:
            yield Hub(db, url, key)
    finally:
        store.close()


def run(web: Path, hub: Hub, *extra: str, remote: tuple[str, str, str] | None = None
        ) -> tuple[int, str, dict[str, Any]]:
    """`secpipe run` of the example's dockerfile stage: (exit code, console, summary.json).
    `remote`: (url, key id, secret) of the hub's server instead of its database file."""
    out = web.parent / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    location = str(hub.db)
    if remote:
        location = remote[0]
        env.update(SECPIPE_HUB_ACCESS_KEY_ID=remote[1], SECPIPE_HUB_SECRET_ACCESS_KEY=remote[2])
    done = subprocess.run([sys.executable, "-m", "secpipe", "run", str(web), "--stage",
                           "dockerfile", "--hub", location, "--out", str(out),
                           "--no-progress", *extra],
                          capture_output=True, text=True, env=env, timeout=300)
    latest = out / "runs" / "latest" / "summary.json"
    summary = json.loads(latest.read_text())
    return done.returncode, done.stdout + done.stderr, summary


def _applied(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return summary["hub_suppressions"]["applied"]


def test_triage_suppression_spares_the_finding_until_it_expires(web: Path, hub: Hub) -> None:
    code, out, _ = run(web, hub)
    assert code == 1, out
    assert "DL3020" in out
    hub.update(Workflow={"Status": "SUPPRESSED"},
               Note={"Text": "ADD of a local folder is fine here (ticket SEC-12)",
                     "UpdatedBy": "alice"},
               UserDefinedFields={"secpipe:ExpiresAt": FUTURE})
    key_id = hub.key_id

    code, out, summary = run(web, hub)
    assert code == 0, out
    assert summary["totals"]["blocking"] == 0
    [spared] = _applied(summary)
    assert spared["note"] == "ADD of a local folder is fine here (ticket SEC-12)"
    assert spared["actor"] == key_id and spared["expires"] == FUTURE
    assert spared["finding"] == hub.finding()["Id"] and spared["stage"] == "dockerfile"
    assert "Suppressed in the hub (1)" in out and "SEC-12" in out and key_id in out

    code, out, summary = run(web, hub, "--ignore-hub-suppressions")
    assert code == 1, out
    assert summary["hub_suppressions"]["ignored"] is True and _applied(summary) == []
    assert hub.finding()["Workflow"]["Status"] == "SUPPRESSED"   # an audit changes nothing

    hub.update(UserDefinedFields={"secpipe:ExpiresAt": PAST})
    code, out, summary = run(web, hub)
    assert code == 1, out
    [reopened] = summary["hub_suppressions"]["reopened"]
    assert reopened["id"] == hub.finding()["Id"] and reopened["expires"] == PAST
    assert "Expired hub suppressions (1)" in out
    again = hub.finding()
    assert again["Workflow"]["Status"] == "NEW"
    assert "secpipe:ExpiresAt" not in (again.get("UserDefinedFields") or {})
    history = hub.store.finding_history(again["Id"])
    assert any(e.get("actor") == "secpipe gate (suppression expired)"
               and e["changes"]["Workflow"][1]["Status"] == "NEW" for e in history)
    code, out, _ = run(web, hub)
    assert code == 1, out                               # it stays open


def test_dashboard_triage_counts_until_its_expiry_date(web: Path, hub: Hub) -> None:
    """The dashboard's suppress form (signed in as a triage user, with its CSRF token); it
    writes the expiry as `secpipe/SuppressedUntil` (a date)."""
    import re

    import httpx

    from secpipe.hub.dashboard.triage import finding_key

    run(web, hub)
    with httpx.Client(base_url=hub.url, timeout=30) as ui:
        csrf = re.search(r'name="csrf" value="([^"]+)"', ui.get("/ui/login").text).group(1)
        ui.post("/ui/login", data={"csrf": csrf, "username": "alice",
                                   "password": DASHBOARD_PASSWORD})
        csrf = re.search(r'name="csrf" value="([^"]+)"', ui.get("/ui/").text).group(1)
        done = ui.post("/ui/triage", follow_redirects=True, data={
            "csrf": csrf, "finding": finding_key(hub.finding()), "action": "suppress",
            "reason": "demo container only", "expires": "2999-12-31", "back": "/ui/findings"})
        assert "1 finding suppressed." in done.text, done.text[:2000]
    code, out, summary = run(web, hub)
    assert code == 0, out
    [spared] = _applied(summary)
    assert spared["expires"] == "2999-12-31" and spared["actor"] == "user:alice"
    assert "demo container only" in spared["note"]
    hub.update(UserDefinedFields={"secpipe/SuppressedUntil": "2001-01-01"})
    code, out, _ = run(web, hub)
    assert code == 1, out


def test_a_suppression_by_a_role_that_may_not_triage_does_not_count(web: Path,
                                                                    hub: Hub) -> None:
    run(web, hub)
    f = hub.finding()
    # the store itself does not stop this (the API's permission check does): the gate must
    # still refuse to trust it
    hub.store.batch_update([{"Id": f["Id"], "ProductArn": f["ProductArn"]}],
                           {"Workflow": {"Status": "SUPPRESSED"}},
                           principal=Principal("sigv4", "AKIACIKEY", role="ci"))
    assert hub.finding()["Workflow"]["Status"] == "SUPPRESSED"
    code, out, summary = run(web, hub)
    assert code == 1, out
    assert _applied(summary) == []


def test_an_automation_rule_spares_the_finding_on_the_next_run(web: Path, hub: Hub) -> None:
    code, out, _ = run(web, hub)
    assert code == 1, out

    def rule(expires: str) -> list[dict[str, Any]]:
        return [{"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {
            "Workflow": {"Status": "SUPPRESSED"},
            "Note": {"Text": "ADD is reviewed in this repo", "UpdatedBy": "rule"},
            "UserDefinedFields": {"secpipe:ExpiresAt": expires}}}]

    arn = hub.client.create_automation_rule(
        RuleOrder=1, RuleName="accept DL3020", Description="reviewed: ADD of local folders",
        Criteria={"GeneratorId": [{"Value": BLOCKING, "Comparison": "EQUALS"}]},
        Actions=rule(FUTURE))["RuleArn"]

    # the rule applies when the run's findings are imported: this very run already passes
    code, out, summary = run(web, hub)
    assert code == 0, out
    [spared] = _applied(summary)
    assert spared["actor"] == arn and spared["note"] == "ADD is reviewed in this repo"
    assert spared["expires"] == FUTURE and arn in out
    stored = hub.finding()
    assert stored["Workflow"]["Status"] == "SUPPRESSED"
    assert any(e["kind"] == "rule" and e["actor"] == arn
               for e in hub.store.finding_history(stored["Id"]))
    code, out, summary = run(web, hub)                  # now held SUPPRESSED by the hub
    assert code == 0, out
    assert _applied(summary)[0]["actor"] == arn

    code, out, _ = run(web, hub, "--ignore-hub-suppressions")
    assert code == 1, out

    # expired: the rule now writes a past expiry, and the stored one is past too
    hub.client.batch_update_automation_rules(UpdateAutomationRulesRequestItems=[
        {"RuleArn": arn, "Actions": rule(PAST)}])
    hub.update(UserDefinedFields={"secpipe:ExpiresAt": PAST})
    code, out, summary = run(web, hub)
    assert code == 1, out
    assert [r["id"] for r in summary["hub_suppressions"]["reopened"]] == [stored["Id"]]
    assert _applied(summary) == []


def test_a_remote_hub_tells_a_ci_key_its_suppressions(web: Path, hub: Hub) -> None:
    """`--hub http://...` with a ci key scoped to the repository: the same answers over HTTP."""
    from secpipe.hub.authz import Scope

    ci = hub.store.create_access_key("ci web", role="ci", scope=Scope.of(repos=["web"]))
    remote = (hub.url, *ci)
    code, out, _ = run(web, hub, remote=remote)
    assert code == 1, out
    arn = hub.client.create_automation_rule(
        RuleOrder=1, RuleName="accept DL3020", Description="reviewed",
        Criteria={"GeneratorId": [{"Value": BLOCKING, "Comparison": "EQUALS"}]},
        Actions=[{"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {
            "Workflow": {"Status": "SUPPRESSED"},
            "Note": {"Text": "reviewed", "UpdatedBy": "rule"}}}])["RuleArn"]
    for _ in range(2):                   # the rules' preview, then the hub's stored state
        code, out, summary = run(web, hub, remote=remote)
        assert code == 0, out
        assert _applied(summary)[0]["actor"] == arn
    assert hub.finding()["Workflow"]["Status"] == "SUPPRESSED"

    other = hub.store.create_access_key("ci api", role="ci", scope=Scope.of(repos=["api"]))
    code, out, _ = run(web, hub, remote=(hub.url, *other))
    assert code == 2 and "may not" in out, out
