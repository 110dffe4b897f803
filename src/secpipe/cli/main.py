"""The command line. Thin: each command calls one function of the core and maps its errors onto
messages and exit codes in one place (0 gate passed, 1 gate failed, 2 error)."""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from secpipe import __version__

from secpipe.cli._common import EXIT_ERROR, _cli_fingerprint_key, _fail, err_console


class _Group(click.Group):
    """Usage errors exit 2 like every other error (click's default is also 2).

    Ctrl-C anywhere in a command is exit 2 with a word, never click's "Aborted!" with exit 1
    (which CI would read as "findings") nor Python's death by SIGINT (-2), whatever the
    command was doing when the signal came (importing, cleaning up, writing outputs)."""

    # Command groups of other modules, imported only when used: `secpipe --help` or
    # `secpipe run` then never pays for the hub's, the AWS or the vulnerability DB's imports
    # (start-up below 0.3 s). name -> (module with register(main), its one-line help, kept equal
    # to the command's own by tests/test_cli_startup.py).
    lazy: dict[str, tuple[str, str]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            import importlib

            importlib.import_module(self.lazy[cmd_name][0]).register(self)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.commands.get(name)
            if cmd is not None and cmd.hidden:
                continue
            text = (cmd.get_short_help_str(formatter.width - 6 - len(name)) if cmd is not None
                    else click.Command(name, help=self.lazy[name][1]).get_short_help_str(
                        formatter.width - 6 - len(name)))
            rows.append((name, text))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/bold red]: every running tool was stopped")
            raise click.exceptions.Exit(EXIT_ERROR) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="secpipe")
def main() -> None:
    """secpipe: run every security scanner of a DevSecOps pipeline with one command.

    \b
    Quick start:
      secpipe tools install          # provision the scanners (isolated, pinned)
      secpipe doctor                 # what is installed, what is missing and how to get it
      secpipe run examples/web       # run the pipeline, gate, write reports

    Exit codes: 0 gate passed, 1 gate failed (findings), 2 error (config, tool
    missing/crashed/timed out, unparsable report).
    """


@main.command()
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option("-c", "--config", "config_file", type=click.Path(path_type=Path),
              help="Pipeline config (default: PATH/secpipe.yml, else the built-in pipeline).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Output dir (default: PATH/.secpipe, the config's `output` under the scanned "
                   "PATH). Runs go to OUT/runs/<id>/.")
@click.option("--stage", "stages", multiple=True, metavar="NAME",
              help="Run only this stage (repeatable); its needs count as satisfied.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), help="Tools run at once (default: CPUs, at least 2).")
@click.option("--suppressions", "suppressions_file", type=click.Path(path_type=Path),
              help="Suppression file (default: PATH/.secpipe-suppressions.yml when present).")
@click.option("--progress/--no-progress", default=None,
              help="Live progress table (default: on when the terminal is interactive).")
@click.option("--hub", "hub", metavar="URL|DB",
              help="Record the run in this hub: a SQLite path, a postgresql:// URL or a hub's "
                   "http(s):// URL (default: OUT/hub.db, the project's local hub).")
@click.option("--no-hub", is_flag=True, help="Do not record the run (no new/recurring/fixed).")
@click.option("--hub-profile", metavar="PROFILE", default=None,
              help="Sign requests to an http(s) hub with this AWS-config profile's key (default: "
                   "SECPIPE_HUB_ACCESS_KEY_ID/SECRET; never AWS_ACCESS_KEY_ID).")
@click.option("--sink", "sinks", multiple=True, type=click.Choice(["securityhub", "s3"]),
              help="After the outputs are written, also send the run here (repeatable; options "
                   "from `sinks:` in secpipe.yml). A failing sink exits 2.")
@click.option("--no-cache", is_flag=True,
              help="Scan everything again: neither read nor write the scan cache "
                   "(`secpipe cache clear` empties it).")
@click.option("--ignore-hub-suppressions", is_flag=True,
              help="Audit: findings the hub holds SUPPRESSED (dashboard triage, "
                   "BatchUpdateFindings, automation rules) block as if never triaged.")
def run(path: Path, config_file: Path | None, out_dir: Path | None, stages: tuple[str, ...],
        jobs: int | None, suppressions_file: Path | None, progress: bool | None,
        hub: str | None, no_hub: bool, hub_profile: str | None, sinks: tuple[str, ...],
        no_cache: bool = False, ignore_hub_suppressions: bool = False) -> None:
    """Run the pipeline on PATH: scan, normalise into ASFF findings, gate, report.

    \b
    Stages (from secpipe.yml) run in parallel where their `needs` allow. Every tool
    that is missing, crashes, times out or writes an unparsable report makes its
    stage ERROR and the run exit 2: nothing passes by accident.

    \b
    Outputs in OUT/runs/<run-id>/ (OUT: PATH/.secpipe unless --out): raw/ (tool
    reports, secrets masked), logs/, summary.json, findings.asff.json,
    findings.ocsf.json, results.sarif, junit.xml, report.html.

    \b
    Without a secpipe.yml the default pipeline runs: secrets, dockerfile (every
    Dockerfile), iac (every checkov framework present) and, when the tree holds a
    lockfile, sbom and sca (the OSV DB is fetched on first use when online).

    \b
    Examples:
      secpipe run examples/web
      secpipe run . --stage secrets --stage iac
      secpipe run . -c ci/secpipe.yml --out /tmp/scan
      secpipe run . --stage iac --sink securityhub --sink s3
    """
    with _calm_gc():   # before the imports: collecting while modules load frees nothing
        from secpipe.config import ConfigError
        from secpipe.malloc_tune import tune_for_run
        from secpipe.pipeline.api import HubSyncError, RunError, RunRequest, run_pipeline
        from secpipe.progress import Progress

        gc.freeze()      # the pipeline's modules too (see _calm_gc)
        tune_for_run()   # big buffers given back to the system as the run frees them
        if hub_profile:  # read by the remote-hub client (secpipe.hub.client.credentials)
            from secpipe.hub.client import ENV_PROFILE

            os.environ[ENV_PROFILE] = hub_profile
        if no_cache:
            os.environ["SECPIPE_NO_CACHE"] = "1"  # read by secpipe.scancache in the tool threads
        console = Console()
        if not console.is_terminal:  # CI logs: wide enough that tables and findings stay on a line
            console = Console(width=max(console.width, 120))
        req = RunRequest(root=path, config_file=config_file, out_dir=out_dir, stages=stages,
                         jobs=jobs, suppressions_file=suppressions_file, cpu_origin=0.0,
                         hub=hub, use_hub=not no_hub, sinks=sinks,
                         ignore_hub_suppressions=ignore_hub_suppressions)
        from secpipe.sinks import SinksFailed
        try:
            with Progress(console, live=progress) as display:
                result = run_pipeline(req, events=display.events())
        except (ConfigError, RunError, HubSyncError) as exc:
            raise _fail(str(exc)) from None
        except SinksFailed as exc:
            from secpipe.outputs.console import render_console

            render_console(exc.run, console)
            raise _fail(str(exc)) from None
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/bold red]: every running tool was stopped")
            raise click.exceptions.Exit(EXIT_ERROR) from None
        from secpipe.outputs.console import render_console   # imported while the tools ran

        render_console(result, console)
        raise click.exceptions.Exit(result.exit_code)


@contextlib.contextmanager
def _calm_gc() -> Iterator[None]:
    """Fewer cyclic garbage collections for a run, which makes few cycles.

    With CPython's default thresholds a run collects hundreds of times and walks every
    long-lived object (the imported modules, the findings) in each full collection, and
    once more on the way out: 0.2-0.5 s of a run of 2,000 findings. What is imported by now
    is frozen (modules live to the end anyway), young objects are collected every 50,000
    allocations instead of 700, the oldest generation ten times less often than that, and
    the process's last collection skips what it holds. Garbage that is not a cycle is freed
    at once as always; in-process callers (tests) get the previous settings back."""
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)   # before the interpreter's final collection
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


@main.command()
@click.argument("report", type=click.Path(path_type=Path, allow_dash=True))
@click.option("--from", "from_", required=True, metavar="FORMAT|auto",
              help="The report's format (see `secpipe formats`), or `auto` to recognise it.")
@click.option("--to", "to", type=click.Choice(["asff", "ocsf", "sarif", "junit", "json"]),
              default="asff",
              show_default=True, help="What to print on stdout.")
def convert(report: Path, from_: str, to: str) -> None:
    """Convert one scanner REPORT into ASFF, OCSF, SARIF, JUnit or secpipe's JSON (on stdout).

    \b
    Examples:
      secpipe convert checkov.json --from checkov
      secpipe convert results.sarif --from auto --to asff > findings.json
      secpipe convert findings.asff.json --from asff --to ocsf > findings.ocsf.json
      trivy fs -f json . | secpipe convert - --from trivy --to sarif
    """
    from secpipe.convert import ConvertError, convert_report
    from secpipe.formats import ReportFormatError

    try:
        data = sys.stdin.buffer.read() if str(report) == "-" else report.read_bytes()
    except OSError as exc:
        raise _fail(f"{report}: cannot read: {exc.strerror or exc}") from None
    try:
        out = convert_report(data, source=str(report), from_=from_, to=to,
                             key=_cli_fingerprint_key(None))
    except (ReportFormatError, ConvertError) as exc:
        raise _fail(str(exc)) from None
    sys.stdout.write(out)
    if not out.endswith("\n"):
        sys.stdout.write("\n")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
def formats(as_json: bool) -> None:
    """List the report formats `convert --from` and the pipeline understand.

    \b
    Example:
      secpipe formats
    """
    from secpipe.formats import all_formats

    found = all_formats()
    if as_json:
        click.echo(json.dumps([{"name": f.name, "title": f.title} for f in found.values()], indent=2))
        return
    table = Table("format", "what it reads", show_edge=False)
    for fmt in found.values():
        table.add_row(fmt.name, fmt.title)
    Console().print(table)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def doctor(as_json: bool) -> None:
    """Show each scanner's installed version, or exactly how to get it.

    Exits 2 when a tool of the default pipeline is missing or broken.

    \b
    Example:
      secpipe doctor
    """
    from secpipe.tools.doctor import doctor_rows

    rows = doctor_rows()
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2, default=str))
    else:
        console = Console()
        if not console.is_terminal:
            console = Console(width=max(console.width, 160))
        table = Table("tool", "status", "version", "pinned", "path / how to get it", show_edge=False)
        for r in rows:
            style = "green" if r.ok else ("red" if r.required else "yellow")
            table.add_row(r.name, f"[{style}]{r.status}[/{style}]", r.version or "-", r.pinned,
                          escape(r.path or r.hint))
        console.print(table)
    if any(r.required and not r.ok for r in rows):
        raise click.exceptions.Exit(EXIT_ERROR)


@main.group()
def tools() -> None:
    """Provision the scanners at pinned versions in isolated environments.

    \b
    Examples:
      secpipe tools install            # every tool the default pipeline needs
      secpipe tools install semgrep    # an optional extra
    """


@tools.command("install")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--force", is_flag=True, help="Reinstall even when the pinned version is present.")
@click.option("--jobs", "-j", type=click.IntRange(1, 8), default=2, show_default=True)
def tools_install(names: tuple[str, ...], force: bool, jobs: int) -> None:
    """Install scanners (default: every tool the default pipeline needs).

    Each goes into its own environment under the tool dir ($SECPIPE_TOOLS_DIR or
    ~/.cache/secpipe/tools), with its executables linked into <dir>/bin, which
    secpipe puts first on PATH for every tool it runs.

    \b
    Examples:
      secpipe tools install
      secpipe tools install checkov helm
    """
    from secpipe.tools.doctor import install_with_progress

    failures = install_with_progress(list(names), force=force, jobs=jobs, console=err_console)
    if failures:
        raise click.exceptions.Exit(EXIT_ERROR)
