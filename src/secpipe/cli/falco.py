"""Falco commands: `falco ingest|dead-letters|values|rules|image`.

Without `--hub`, `ingest` and `image` use the project's local hub (`.secpipe/hub.db`); an
http(s):// hub is reached through its `/falco` and `/v1/runs/{id}/images` routes with the hub
token (`--token` or SECPIPE_HUB_TOKEN).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

DEFAULT_HUB = str(Path(".secpipe") / "hub.db")
HUB_OPTION = click.option(
    "--hub", "hub", metavar="URL|DB", default=None,
    help="A SQLite path, a postgresql:// URL, or a hub's http(s):// URL "
         "(default: .secpipe/hub.db, the project's local hub).")
TOKEN_OPTION = click.option(
    "--token", envvar="SECPIPE_HUB_TOKEN", default=None, metavar="TOKEN",
    help="The hub's bearer token for an http(s):// hub (default: $SECPIPE_HUB_TOKEN).")
CHUNK = 1000


def _fail(message: str) -> click.exceptions.Exit:
    from secpipe.cli._common import fail

    return fail(message)


def _is_http(hub: str | None) -> bool:
    return bool(hub) and hub.startswith(("http://", "https://"))


def _open_store(hub: str | None):
    from secpipe.hub.interface import HubError
    from secpipe.hub.store import open_store

    try:
        return open_store(hub or DEFAULT_HUB)
    except HubError as exc:
        raise _fail(f"hub {hub or DEFAULT_HUB}: {exc.message}") from None
    except Exception as exc:  # noqa: BLE001 - a driver's own error: say which hub and why
        raise _fail(f"hub {hub or DEFAULT_HUB}: cannot open: {exc}") from None


def _post(url: str, body: bytes, token: str | None, content_type: str) -> dict[str, Any]:
    if not token:
        raise _fail("an http(s) hub needs its token: --token or SECPIPE_HUB_TOKEN")
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": content_type, "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - the user's hub
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        try:
            detail = json.loads(err.read()).get("Message", "")
        except ValueError:
            detail = ""
        raise _fail(f"{url}: HTTP {err.code} {detail}".rstrip()) from None
    except (urllib.error.URLError, OSError) as err:
        raise _fail(f"{url}: {getattr(err, 'reason', err)}") from None


def _get(url: str, token: str | None) -> dict[str, Any]:
    if not token:
        raise _fail("an http(s) hub needs its token: --token or SECPIPE_HUB_TOKEN")
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - the user's hub
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        raise _fail(f"{url}: HTTP {err.code}") from None
    except (urllib.error.URLError, OSError) as err:
        raise _fail(f"{url}: {getattr(err, 'reason', err)}") from None


def _ndjson(data: bytes) -> list[str]:
    """The alerts of a checked document, one JSON object per line."""
    from secpipe.formats._common import iter_json_lines
    from secpipe.formats.interface import Document

    doc = Document(data)
    whole = doc.json
    rows = [whole] if isinstance(whole, dict) else whole if isinstance(whole, list) \
        else list(iter_json_lines(data, "<report>", partial_last_line="warn"))
    return [json.dumps(row, separators=(",", ":")) for row in rows]


@click.group()
def falco() -> None:
    """Falco runtime alerts: into the hub, deployment values, rules.

    \b
    Examples:
      secpipe falco ingest events.json
      falco -o json_output=true | secpipe falco ingest - --hub https://hub:8443
      secpipe falco values --hub-url https://hub.example.com --out deploy/falco
      secpipe falco rules /etc/falco/falco_rules.yaml
    """


@falco.command("ingest")
@click.argument("report", type=click.Path(path_type=Path, allow_dash=True))
@HUB_OPTION
@TOKEN_OPTION
@click.option("--window", type=click.FloatRange(min=1), default=None, metavar="SECONDS",
              help="Dedup window: alerts of one rule/container/process/file closer than this "
                   "are one finding (default 3600, or SECPIPE_FALCO_DEDUP_WINDOW).")
def falco_ingest(report: Path, hub: str | None, token: str | None, window: float | None) -> None:
    """Import Falco's JSON alerts (json_output lines, `-` for stdin), deduplicated.

    A flood of identical alerts becomes one finding with a count and first/last seen; an
    alert whose image a recorded run built or deployed carries that run's id and commit.

    \b
    Examples:
      secpipe falco ingest /var/log/falco/events.json
      kubectl logs ds/falco | secpipe falco ingest - --hub https://hub:8443
    """
    from secpipe.formats.interface import ReportFormatError
    from secpipe.runtime import deadletter
    from secpipe.runtime.admission import AlertRefused, read_request
    from secpipe.runtime.dedup import DEFAULT_WINDOW, Aggregator
    from secpipe.runtime.flusher import write_chunked
    from secpipe.runtime.intake import ENV_WINDOW, _env_float

    name = "<stdin>" if str(report) == "-" else str(report)
    try:
        data = sys.stdin.buffer.read() if str(report) == "-" else report.read_bytes()
    except OSError as exc:
        raise _fail(f"{report}: cannot read: {exc.strerror or exc}") from None
    if not data.strip():
        click.echo(f"{name}: no alerts", err=True)
        return
    skipped: list[str] = []
    try:  # a log read while Falco writes it may end mid-line: that line is a counted warning
        alerts = read_request(data, name, skipped=skipped)
    except ReportFormatError as exc:
        raise _fail(str(exc)) from None
    except AlertRefused as exc:
        raise _fail(f"{name}: {exc.message}") from None
    for problem in skipped:
        click.echo(f"warning: {name}: {problem}; skipped it", err=True)
    if _is_http(hub):
        lines = _ndjson(data)
        accepted = 0
        for i in range(0, len(lines), CHUNK):
            body = "\n".join(lines[i:i + CHUNK]).encode()
            answer = _post(hub.rstrip("/") + "/falco?wait=true", body, token,
                           "application/x-ndjson")
            accepted += int(answer.get("accepted", 0))
        click.echo(f"{name}: {accepted} alerts sent to {hub}")
        return
    window = window or _env_float(ENV_WINDOW, DEFAULT_WINDOW)
    store = _open_store(hub)
    aggregator = Aggregator(window)
    aggregator.add(alerts)
    episodes = aggregator.take()
    try:
        done = write_chunked(store, episodes, window)
        if done.dead:
            deadletter.write(store, done.dead)
    except Exception as exc:  # noqa: BLE001 - the database's own error, without a traceback
        raise _fail(f"hub {hub or DEFAULT_HUB}: {exc}") from None
    finally:
        store.close()
    if done.error is not None:
        raise _fail(f"hub {hub or DEFAULT_HUB}: {done.error} ({len(done.left)} findings not "
                    "written)")
    stats = done.stats
    click.echo(f"{name}: {stats.alerts} alerts -> {len(episodes)} findings "
               f"({stats.created} new, {stats.updated} updated, {stats.correlated} tied to a run)")
    if done.dead:
        for letter in done.dead:
            click.echo(f"NOT imported ({letter.rule}): {letter.reason}", err=True)
        click.echo("see `secpipe falco dead-letters`", err=True)
        raise click.exceptions.Exit(2)


@falco.command("dead-letters")
@HUB_OPTION
@TOKEN_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one array) instead of lines.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
def falco_dead_letters(hub: str | None, token: str | None, as_json: bool, limit: int) -> None:
    """Falco alerts the hub refused or could not store, newest first, with the reason.

    \b
    Examples:
      secpipe falco dead-letters
      secpipe falco dead-letters --hub https://hub:8443 --json
    """
    from secpipe.runtime import deadletter

    if _is_http(hub):
        rows = _get(f"{hub.rstrip('/')}/v1/falco/dead-letters?limit={limit}", token)
        rows = rows.get("dead_letters", [])
    else:
        store = _open_store(hub)
        try:
            rows = deadletter.list_(store, limit)
        except Exception as exc:  # noqa: BLE001 - the database's own error, without a traceback
            raise _fail(f"hub {hub or DEFAULT_HUB}: {exc}") from None
        finally:
            store.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no dead letters", err=True)
        return
    for row in rows:
        click.echo(_printable(f"{row['received_at'][:19]}Z {row['stage']:<7} x{row['count']} "
                              f"{row['rule'] or '?'} @ {row['alert_time'] or '?'}: "
                              f"{row['reason']}"))


def _printable(text: str) -> str:
    """One terminal line: control and bidi characters from alerts shown as '?'."""
    import re

    return re.sub(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]", "?",
                  text)


@falco.command("values")
@click.option("--hub-url", default="https://secpipe-hub.example.com", show_default=True,
              help="The hub as the cluster reaches it.")
@click.option("--mode", type=click.Choice(["http", "sidekick"]), default="http",
              show_default=True,
              help="http: Falco's http_output posts to the hub; sidekick: Falcosidekick fans "
                   "out to the hub, CloudWatch Logs and SNS.")
@click.option("--token-secret", default="secpipe-hub-token", show_default=True,
              help="Kubernetes Secret holding the hub token (key `token`; `header` for "
                   "sidekick).")
@click.option("--web-process", "web_processes", multiple=True, default=("node",),
              show_default=True, help="The service's web process name (repeatable).")
@click.option("--service", default="web", show_default=True, help="The service's name.")
@click.option("--region", default="", help="AWS region for Falcosidekick's outputs.")
@click.option("--log-group", default="", help="CloudWatch Logs group (sidekick mode).")
@click.option("--sns-topic-arn", default="", help="SNS topic for Error and above (sidekick).")
@click.option("--minimum-priority", default="notice", show_default=True,
              help="Lowest Falco priority sent on.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("deploy") / "falco", show_default=True,
              help="Folder for falco-values.yaml and the rules file.")
def falco_values(hub_url: str, mode: str, token_secret: str, web_processes: tuple[str, ...],
                 service: str, region: str, log_group: str, sns_topic_arn: str,
                 minimum_priority: str, out_dir: Path) -> None:
    """Write Helm values for the falcosecurity/falco chart and the service's rules file.

    \b
    Examples:
      secpipe falco values --hub-url https://hub.example.com
      secpipe falco values --mode sidekick --region eu-west-1 \\
          --log-group /secpipe/falco --sns-topic-arn arn:aws:sns:eu-west-1:123456789012:alerts
      helm install falco falcosecurity/falco -n falco -f deploy/falco/falco-values.yaml
    """
    from secpipe.runtime.helm import RULES_FILE, ValuesOptions, render
    from secpipe.runtime.service_rules import service_rules

    opts = ValuesOptions(hub_url=hub_url, mode=mode, token_secret=token_secret,
                         web_processes=web_processes, service=service, region=region,
                         log_group=log_group, sns_topic_arn=sns_topic_arn,
                         minimum_priority=minimum_priority)
    try:
        text = render(opts)
        rules = service_rules(web_processes, service)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        values_path = out_dir / "falco-values.yaml"
        rules_path = out_dir / RULES_FILE
        values_path.write_text(text, encoding="utf-8")
        rules_path.write_text(rules, encoding="utf-8")
    except OSError as exc:
        raise _fail(f"{out_dir}: cannot write: {exc.strerror or exc}") from None
    click.echo(str(values_path))
    click.echo(str(rules_path))


@falco.command("rules")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, exists=True,
                                                   dir_okay=False))
@click.option("--show-skipped/--no-show-skipped", default=True, show_default=True)
def falco_rules(files: tuple[Path, ...], show_skipped: bool) -> None:
    """Load Falco rules files with secpipe's engine: what loads, what does not and why.

    Without FILES, the service rules `secpipe falco values` writes.

    \b
    Examples:
      secpipe falco rules
      secpipe falco rules falco_rules.yaml deploy/falco/secpipe_rules.yaml
    """
    from secpipe.runtime.rules import RulesError, load_rules
    from secpipe.runtime.service_rules import service_rules

    sources: list[Any] = list(files) or [("secpipe_rules.yaml", service_rules())]
    try:
        rules = load_rules(*sources)
    except RulesError as exc:
        raise _fail(str(exc)) from None
    for rule in rules.loaded:
        click.echo(f"loaded   {rule.priority:<13} {rule.name}")
    if show_skipped:
        for name, reason in rules.skipped:
            click.echo(f"skipped  {name}: {reason}")
    click.echo(f"{len(rules.loaded)} rules loaded, {len(rules.skipped)} not loaded", err=True)


@falco.command("image")
@click.argument("run_id")
@click.argument("images", nargs=-1, required=True)
@click.option("--stage", default="", help="The stage that built or deployed it.")
@click.option("--role", type=click.Choice(["built", "deployed"]), default="deployed",
              show_default=True)
@HUB_OPTION
@TOKEN_OPTION
def falco_image(run_id: str, images: tuple[str, ...], stage: str, role: str, hub: str | None,
                token: str | None) -> None:
    """Record the images a run built or deployed, so runtime alerts tie back to it.

    \b
    Examples:
      secpipe falco image 20260602-1200-abcd registry.example.com/web:1.4.2 --stage deploy
      secpipe falco image RUN web@sha256:0123... --role built --hub https://hub:8443
    """
    from secpipe.hub.interface import HubError
    from secpipe.runtime.correlate import record_run_images

    if _is_http(hub):
        body = json.dumps({"images": list(images), "stage": stage, "role": role}).encode()
        answer = _post(f"{hub.rstrip('/')}/v1/runs/{run_id}/images", body, token,
                       "application/json")
        click.echo(f"{answer.get('recorded', 0)} images recorded for run {run_id}")
        return
    store = _open_store(hub)
    try:
        added = record_run_images(store, run_id, images, stage=stage, role=role)
    except HubError as exc:
        raise _fail(f"{exc.code}: {exc.message}") from None
    finally:
        store.close()
    click.echo(f"{added} images recorded for run {run_id}")


def register(main: click.Group) -> None:
    main.add_command(falco)


__all__ = ["register", "falco"]
