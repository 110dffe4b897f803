"""`secpipe notify test|findings`: check a project's notification channels, and notify about
findings that arrive outside a run (an ASFF file, e.g. Falco alerts converted with
`secpipe convert --from falco`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

CONFIG_OPTION = click.option(
    "-c", "--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
    help="secpipe.yml to read `notifications:` from (default: ./secpipe.yml).")
STATE_OPTION = click.option(
    "--state", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="Dedup/rate-limit state file (default: $SECPIPE_NOTIFY_STATE, else "
         ".secpipe/notify.db).")


def _rules(config_file: Path | None):
    from secpipe.cli._common import _fail
    from secpipe.config import ConfigError, load_config

    try:
        loaded = load_config(Path.cwd(), config_file)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if not loaded.config.notifications:
        raise _fail(f"{loaded.source} has no `notifications:` rules")
    return loaded.config.notifications


@click.group("notify")
def notify() -> None:
    """Notification rules from secpipe.yml (`notifications:`)."""


@notify.command("test")
@CONFIG_OPTION
@click.option("--rule", "rule_names", multiple=True, metavar="NAME",
              help="Only this rule (repeatable; default: every rule).")
def test_cmd(config_file: Path | None, rule_names: tuple[str, ...]) -> None:
    """Send a test message through every channel of the rules (no dedup, no rate limit).

    \b
    Exits 0 when every channel accepted it, else 2 naming each failing channel
    (secrets named by env var must be set, as for a real message).

    \b
    Examples:
      secpipe notify test
      secpipe notify test -c ci/secpipe.yml --rule security-team
    """
    from secpipe.cli._common import _fail
    from secpipe.model import Severity
    from secpipe.notify.channels import deliver
    from secpipe.notify.message import Message

    rules = _rules(config_file)
    unknown = sorted(set(rule_names) - {r.name for r in rules})
    if unknown:
        raise _fail(f"no rule named {', '.join(unknown)}; rules: "
                    f"{', '.join(r.name for r in rules)}")
    console = Console()
    failed = []
    for rule in rules:
        if rule_names and rule.name not in rule_names:
            continue
        message = Message(rule.name, "test", f"[secpipe] test notification (rule {rule.name})",
                          Severity.INFORMATIONAL, {}, [],
                          note="This is a test sent by `secpipe notify test`; no action needed.")
        for channel in rule.channels:
            result = deliver(channel, message)
            mark = "[green]ok[/green]" if result.ok else "[red]failed[/red]"
            console.print(f"{escape(rule.name)}  {escape(result.channel)}  {mark}"
                          + (f"  {escape(result.error)}" if result.error else ""), highlight=False)
            if not result.ok:
                failed.append(f"{rule.name} via {result.channel}")
    if failed:
        raise _fail("notification failed: " + "; ".join(failed))


@notify.command("findings")
@click.argument("report", type=click.Path(path_type=Path, allow_dash=True))
@CONFIG_OPTION
@STATE_OPTION
@click.option("--source", default="runtime", show_default=True,
              help="Where the findings come from: `runtime` (event runtime_alert) or a stage "
                   "name (event new_finding).")
def findings_cmd(report: Path, config_file: Path | None, state: Path | None,
                 source: str) -> None:
    """Notify about the ASFF findings in REPORT (a list, or `{"Findings": [...]}`), through
    the rules whose sources include SOURCE; dedup and rate limits apply.

    \b
    A failing channel is reported on stderr, and the command exits 2.

    \b
    Examples:
      secpipe convert falco.jsonl --from falco | secpipe notify findings -
      secpipe notify findings alerts.asff.json --source runtime --state /var/lib/secpipe/n.db
    """
    from secpipe.cli._common import _fail
    from secpipe.notify.dispatcher import Notifier
    from secpipe.notify.state import default_state_path

    try:
        raw = sys.stdin.buffer.read() if str(report) == "-" else report.read_bytes()
        data = json.loads(raw)
    except OSError as exc:
        raise _fail(f"{report}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _fail(f"{report}: not JSON: {exc}") from None
    objs = data.get("Findings") if isinstance(data, dict) else data
    if not isinstance(objs, list) or not all(isinstance(o, dict) for o in objs):
        raise _fail(f"{report}: expected a list of ASFF findings or {{\"Findings\": [...]}}")
    notifier = Notifier(_rules(config_file), state=state or default_state_path())
    deliveries = notifier.notify_findings(objs, source=source)
    console = Console()
    for d in deliveries:
        console.print(f"{escape(d.rule)}  {d.event}  {d.status}  {d.items} item(s)",
                      highlight=False)
    bad = [d for d in deliveries if d.status in ("failed", "partial", "error")]
    if bad:
        raise _fail("; ".join(f"rule {d.rule}: {d.status}" + (f" ({d.error})" if d.error else "")
                              for d in bad))
    if not deliveries:
        console.print("no rule matched (check the rules' sources, events and thresholds)")


def register(main: click.Group) -> None:
    main.add_command(notify)
