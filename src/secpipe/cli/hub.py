"""Hub commands: `import`, `findings list|update`, `hub serve` (keys, users, audit: hub_admin).

Without `--hub`, each uses the local hub of the current project (`.secpipe/hub.db`), the one
`secpipe run` records into.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from secpipe.formats import ReportFormatError
from secpipe.words import plural
from secpipe.cli._hubopen import DEFAULT_HUB, _hub_errors, _open

HUB_OPTION = click.option(
    "--hub", "hub", metavar="URL|DB", default=None,
    help="A SQLite path, a postgresql:// URL, or a hub's http(s):// URL "
         "(default: .secpipe/hub.db, the project's local hub).")
SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"]
WORKFLOWS = ["NEW", "NOTIFIED", "SUPPRESSED", "RESOLVED"]


@click.command("import")
@click.argument("report", type=click.Path(path_type=Path, allow_dash=True))
@click.option("--from", "from_", required=True, metavar="FORMAT|auto",
              help="The report's format (`secpipe formats`), or `auto`.")
@click.option("--repo", default="", help="Repository the report is about (ProductFields).")
@click.option("--branch", default="", help="Branch the report is about.")
@HUB_OPTION
@_hub_errors
def import_(report: Path, from_: str, repo: str, branch: str, hub: str | None) -> None:
    """Import one scanner REPORT into the hub as ASFF findings (BatchImportFindings semantics).

    \b
    Examples:
      secpipe import checkov.json --from checkov
      secpipe import zap.json --from auto --hub postgresql://hub@db/secpipe
    """
    from secpipe.cli._common import _fail
    from secpipe.cli._common import _cli_fingerprint_key
    from secpipe.convert import ConvertError, convert_report
    from secpipe.model import SourceContext

    try:
        data = sys.stdin.buffer.read() if str(report) == "-" else report.read_bytes()
    except OSError as exc:
        raise _fail(f"{report}: cannot read: {exc.strerror or exc}") from None
    try:
        findings = json.loads(convert_report(
            data, source=str(report), from_=from_, to="asff",
            ctx=SourceContext(repo=repo, branch=branch, run_id="import", stage="import"),
            key=_cli_fingerprint_key(hub or DEFAULT_HUB)))
    except (ReportFormatError, ConvertError) as exc:
        raise _fail(str(exc)) from None
    store = _open(hub)
    ok, failed = 0, []
    for start in range(0, len(findings), 100):
        result = store.batch_import(findings[start:start + 100])
        ok += result.success_count
        failed += result.failed
    console = Console()
    console.print(f"imported {plural(ok, 'finding')} from {escape(str(report))}"
                  + (f", [bold red]{len(failed)} failed[/]" if failed else ""))
    for f in failed[:20]:
        console.print(f"  {escape(f.get('Id', '?'))}: {escape(f.get('ErrorCode', ''))} "
                      f"{escape(f.get('ErrorMessage', ''))}", highlight=False)
    if failed:
        raise click.exceptions.Exit(2)


@click.group()
def findings() -> None:
    """Query and triage the hub's findings.

    \b
    Examples:
      secpipe findings list --severity HIGH --severity CRITICAL
      secpipe findings update ID --workflow SUPPRESSED --note "accepted until Q3"
    """


@findings.command("list")
@click.option("--severity", multiple=True, type=click.Choice(SEVERITIES, case_sensitive=False))
@click.option("--workflow", multiple=True, type=click.Choice(WORKFLOWS, case_sensitive=False))
@click.option("--record-state", type=click.Choice(["ACTIVE", "ARCHIVED", "ANY"], case_sensitive=False),
              default="ACTIVE", show_default=True)
@click.option("--tool", multiple=True, help="Tool name (ProductFields secpipe/Tool).")
@click.option("--stage", multiple=True, help="Pipeline stage.")
@click.option("--repo", help="Repository.")
@click.option("--text", help="Title contains this text.")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="ASFF JSON array on stdout.")
@click.option("--ids", "ids_only", is_flag=True,
              help="Only the full finding Ids, one per line (for `findings update`).")
@click.option("--wide", is_flag=True, help="One line per finding, the full Id first, never cut.")
@HUB_OPTION
@_hub_errors
def findings_list(severity, workflow, record_state, tool, stage, repo, text, limit, as_json,
                  ids_only, wide, hub) -> None:
    """List findings with Security Hub filters, newest first.

    The table fits the terminal (80 columns included); the full Ids are printed by --ids
    (alone, one per line) and --wide (first on each line).

    \b
    Examples:
      secpipe findings list --severity HIGH --tool checkov --json
      secpipe findings list --tool osv-match --ids | xargs secpipe findings update \\
          --workflow NOTIFIED
      secpipe findings list --wide
    """
    filters: dict = {}
    if severity:
        filters["SeverityLabel"] = [{"Value": s.upper(), "Comparison": "EQUALS"} for s in severity]
    if workflow:
        filters["WorkflowStatus"] = [{"Value": w.upper(), "Comparison": "EQUALS"} for w in workflow]
    if record_state.upper() != "ANY":
        filters["RecordState"] = [{"Value": record_state.upper(), "Comparison": "EQUALS"}]
    pf = [{"Key": "secpipe/Tool", "Value": t, "Comparison": "EQUALS"} for t in tool]
    pf += [{"Key": "secpipe/Stage", "Value": s, "Comparison": "EQUALS"} for s in stage]
    if repo:
        pf.append({"Key": "secpipe/Repo", "Value": repo, "Comparison": "EQUALS"})
    if pf:
        filters["ProductFields"] = pf
    if text:
        filters["Title"] = [{"Value": text, "Comparison": "CONTAINS"}]
    store = _open(hub)
    rows: list[dict] = []
    token = None
    while len(rows) < limit:
        page, token = store.get_findings(filters, [{"Field": "UpdatedAt", "SortOrder": "desc"}],
                                         min(100, limit - len(rows)), token)
        rows += page
        if not token:
            break
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from secpipe.cli.findings_view import print_findings

    print_findings(rows, ids_only=ids_only, wide=wide, more=bool(token))


@findings.command("update")
@click.argument("finding_ids", nargs=-1, required=True, metavar="ID...")
@click.option("--workflow", type=click.Choice(WORKFLOWS, case_sensitive=False))
@click.option("--note", help="Note text (max 512 characters).")
@click.option("--severity", type=click.Choice(SEVERITIES, case_sensitive=False))
@click.option("--by", "updated_by", default="secpipe-cli", show_default=True)
@HUB_OPTION
@_hub_errors
def findings_update(finding_ids, workflow, note, severity, updated_by, hub) -> None:
    """Change workflow status, note or severity (BatchUpdateFindings semantics).

    \b
    Example:
      secpipe findings update secpipe/checkov/3f0c… --workflow SUPPRESSED --note "false positive"
    """
    from secpipe.cli._common import _fail

    changes: dict = {}
    if workflow:
        changes["Workflow"] = {"Status": workflow.upper()}
    if note:
        changes["Note"] = {"Text": note, "UpdatedBy": updated_by}
    if severity:
        changes["Severity"] = {"Label": severity.upper()}
    if not changes:
        raise _fail("nothing to change: give --workflow, --note or --severity")
    store = _open(hub)
    idents = []
    for fid in finding_ids:
        page, _ = store.get_findings({"Id": [{"Value": fid, "Comparison": "EQUALS"}]}, None, 100, None)
        if not page:
            raise _fail(f"no finding with Id {fid}")
        idents += [{"Id": p["Id"], "ProductArn": p["ProductArn"]} for p in page]
    # the history's actor: the local OS user (over a database) or the signing key (remote);
    # --by only goes into Note.UpdatedBy
    from secpipe.hub.authz import local_principal
    local = {} if (hub or "").startswith(("http://", "https://")) else \
        {"principal": local_principal()}
    result = store.batch_update(idents, changes, updated_by=updated_by, **local)
    for p in result.processed:
        click.echo(f"updated {p['Id']}")
    for u in result.unprocessed:
        click.echo(f"NOT updated {u.get('FindingIdentifier', {}).get('Id')}: "
                   f"{u.get('ErrorCode')} {u.get('ErrorMessage')}", err=True)
    if result.unprocessed:
        raise click.exceptions.Exit(2)


@click.group()
def hub() -> None:
    """Run the findings hub: a Security Hub-compatible API and a dashboard.

    \b
    Examples:
      secpipe hub keys create --role ci --repo acme/web --label ci
      secpipe hub serve --port 8443
    """


@hub.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback needs --allow-remote.")
@click.option("--port", type=click.IntRange(1, 65535), default=8443, show_default=True)
@click.option("--hub", "db", metavar="URL|DB", default=None,
              help="SQLite path or postgresql:// URL (default: .secpipe/hub.db).")
@click.option("--db", "db_alias", metavar="URL|DB", default=None, hidden=True)  # old spelling
@click.option("--allow-remote", is_flag=True, help="Allow binding a non-loopback address.")
@click.option("--vulndb", "vulndb", metavar="PATH", default=None,
              help="OSV database served at /v1/query and /v1/querybatch (default: secpipe's).")
@click.option("--protected-branch", "protected", multiple=True, metavar="GLOB",
              help="Branches only admin or a ci key scoped to them may record runs for "
                   "(repeatable; default: main, master, release/*).")
@click.option("--max-future-skew", type=click.FloatRange(0, 24 * 365), default=None,
              metavar="HOURS", help="Refuse findings dated more than this in the future "
                                     "(default 24, or SECPIPE_HUB_MAX_FUTURE_SKEW_HOURS).")
@click.option("--public-osv", is_flag=True,
              help="Serve the OSV query routes without credentials (for pip-audit, "
                   "osv-scanner); still rate limited per source address.")
@click.option("--rate-limit", type=click.FloatRange(min=0), default=10.0, show_default=True,
              metavar="PER_SECOND", help="Requests per second per principal (Security Hub's "
              "default); 0 turns rate limiting off.")
@click.option("--rate-burst", type=click.IntRange(min=1), default=30, show_default=True,
              help="Token-bucket burst per principal.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              default=None, envvar="SECPIPE_HUB_CONFIG",
              help="secpipe.yml whose notification rules custom actions send to (an action "
                   "target's Id names the rule; default ./secpipe.yml).")
@click.option("--account-id", default=None, metavar="ID",
              help="The hub's own (administrator) AWS account id, 12 digits; remembered by the "
                   "hub (default: the remembered one, 000000000000 for a new hub).")
@click.option("--region", default="us-east-1", show_default=True,
              help="The region enabled on first start and used by calls without SigV4.")
@click.option("--workers", default="1", show_default=True, metavar="N|auto",
              help="Server processes on one port (auto: one per CPU core). With more than one, "
                   "the rate limit and the Falco queue are per process and the dashboard is "
                   "not served (its sessions live in one process).")
def hub_serve(host: str, port: int, db: str | None, db_alias: str | None, allow_remote: bool,
              vulndb: str | None, protected: tuple[str, ...], max_future_skew: float | None,
              public_osv: bool, rate_limit: float, rate_burst: int,
              config_file: str | None = None, account_id: str | None = None,
              region: str = "us-east-1", workers: str = "1") -> None:
    """Serve the hub: Security Hub's REST-JSON API (SigV4), native /v1 routes, POST /falco
    (Falco's http_output, bearer token), the OSV query API, and the /ui dashboard.

    \b
    Example:
      secpipe hub serve --hub postgresql://secpipe@127.0.0.1/hub --port 8443
      aws securityhub get-findings --endpoint-url http://127.0.0.1:8443
    """
    from secpipe.hub.api import workers as hub_workers
    from secpipe.hub.api.isolation import Limits
    from secpipe.hub.api.server import serve
    from secpipe.runtime.intake import hub_routes, routes as intake_routes
    from secpipe.vulndb.api import routes as osv_routes

    try:
        count = hub_workers.resolve(workers)
    except ValueError:
        raise click.BadParameter(f"{workers!r} is not a number >= 1 or auto",
                                 param_hint="--workers") from None

    def routes(store):
        # the Falco intake, the OSV query API and (one process only) the dashboard
        own = hub_routes(store) if count == 1 else intake_routes(store)
        return [*osv_routes(vulndb, public=public_osv), *own]

    from secpipe.hub.authz import Policy

    if config_file:      # read by secpipe.hub.custom_action when a custom action is invoked
        import os

        from pathlib import Path

        from secpipe.hub.custom_action import ActionSender

        os.environ["SECPIPE_HUB_CONFIG"] = os.path.abspath(config_file)
        ActionSender(Path(config_file)).rules()      # a broken file fails now, not later

    policy = Policy.from_env(protected)
    if max_future_skew is not None:
        policy = Policy(policy.protected_branches, max_future_skew * 3600.0)
    from secpipe.cli._common import _fail
    from secpipe.hub.interface import HubError

    from secpipe.hub.api.server import check_host

    check_host(host, allow_remote)      # before a database is created or migrated
    url = db or db_alias or DEFAULT_HUB
    try:   # the account and region are checked (and the account remembered) on open
        from secpipe.hub.store import open_store
        store = open_store(url, account_id=account_id, region=region)
    except HubError as exc:
        raise _fail(f"{exc.code}: {exc.message}") from None
    limits = Limits(rate=rate_limit, burst=rate_burst)
    if count > 1:      # each worker opens the hub itself, with the account now remembered
        store.close()
        serve(url, host=host, port=port, allow_remote=allow_remote, extra_routes=routes,
              policy=policy, limits=limits, workers=count, store_options={"region": region})
    else:
        serve(store=store, host=host, port=port, allow_remote=allow_remote,
              extra_routes=routes, policy=policy, limits=limits)


def register(main: click.Group) -> None:
    from secpipe.cli import hub_admin  # one way: hub_admin imports cli._hubopen, not cli.hub

    hub_admin.register(hub)   # keys, users, audit under `secpipe hub`
    main.add_command(import_)
    main.add_command(findings)
    main.add_command(hub)
