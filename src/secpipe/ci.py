"""`secpipe ci github|gitlab`: the same pipeline on GitHub Actions and GitLab CI.

Both workflows install secpipe, provision the tools the config needs, run `secpipe run`, and
publish what each platform reads natively, even when the gate fails: SARIF to GitHub code
scanning (`github/codeql-action/upload-sarif`), and JUnit plus a GitLab SAST report
(`secpipe ci gitlab-sast`, security-report schema 15) to GitLab. The run directory is kept as a
build artifact. The job's exit code is secpipe's (0 pass, 1 gate failed, 2 error).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from secpipe import __version__
from secpipe.config import PipelineConfig

BUILTIN_TOOLS = frozenset({"deploy-local", "dast"})
SAST_SCHEMA_VERSION = "15.0.7"
_SEVERITY = {"CRITICAL": "Critical", "HIGH": "High", "MEDIUM": "Medium", "LOW": "Low",
             "INFORMATIONAL": "Info"}


def installable(tool: str) -> str | None:
    """The `secpipe tools install` name behind a pipeline tool (`sbom` runs syft), or None
    for tools that run in-process or need nothing installed (dast, osv-match, ecr-scan)."""
    import sys

    from secpipe.scanners.registry import all_scanners
    from secpipe.tools import UnknownToolError, get_spec

    scanner = all_scanners().get(tool)
    exe = getattr(scanner, "executable", tool) if scanner is not None else tool
    if tool in BUILTIN_TOOLS or not exe or exe == sys.executable:
        return None
    try:
        return get_spec(exe).name
    except UnknownToolError:
        try:
            return get_spec(tool).name
        except UnknownToolError:
            return None


def tools_to_install(cfg: PipelineConfig, stages: list[str] | None = None) -> list[str]:
    names = stages if stages is not None else list(cfg.stages)
    tools = [t for n in names for t in (installable(x) for x in cfg.stages[n].tools) if t]
    if "checkov" in tools:
        tools.append("helm")  # checkov's helm framework refuses to pass without it
    return list(dict.fromkeys(tools))


class _Dumper(yaml.SafeDumper):
    """Multi-line scripts as literal blocks, the way people write workflow files."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(doc: dict[str, Any]) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=1000)


def _run_script(project_dir: str) -> str:
    return (f'set +e\ncd "{project_dir}"\n'
            "secpipe run . --out .secpipe --no-progress\ncode=$?\n"
            "cp -rL .secpipe/runs/latest \"$GITHUB_WORKSPACE/secpipe-report\" || true\n"
            "exit $code\n")


def github_workflow(cfg: PipelineConfig, *, project_dir: str = ".",
                    pip_spec: str = f"secpipe=={__version__}") -> str:
    """A GitHub Actions workflow: scan on push and pull request, SARIF to code scanning."""
    from secpipe.tools import get_spec

    wanted = tools_to_install(cfg)
    # apt tools need root, which the runner only has through sudo
    apt = [get_spec(t).source for t in wanted if get_spec(t).kind == "apt"]
    tools = " ".join(t for t in wanted if get_spec(t).kind != "apt")
    steps: list[dict[str, Any]] = [
        {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}},  # history: secrets stage
        {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
        {"name": "Install secpipe", "run": f'pip install "{pip_spec}"'},
        *([{"name": "System packages",
            "run": "sudo apt-get update -qq && sudo apt-get install -y -qq " + " ".join(apt)}]
          if apt else []),
        {"name": "Provision the scanners", "run": f"secpipe tools install {tools}".strip()},
        {"name": "Run the pipeline", "id": "secpipe", "run": _run_script(project_dir)},
        {"name": "Upload SARIF to code scanning", "if": "always()",
         "uses": "github/codeql-action/upload-sarif@v3",
         "with": {"sarif_file": "secpipe-report/results.sarif", "category": "secpipe"}},
        {"name": "Keep the reports", "if": "always()", "uses": "actions/upload-artifact@v4",
         "with": {"name": "secpipe-report", "path": "secpipe-report/",
                  "if-no-files-found": "warn", "retention-days": 30}},
    ]
    return _dump({
        "name": "secpipe",
        "on": {"push": {"branches": ["main"]}, "pull_request": {}, "workflow_dispatch": {}},
        "permissions": {"contents": "read", "security-events": "write", "actions": "read"},
        "concurrency": {"group": "secpipe-${{ github.ref }}", "cancel-in-progress": True},
        "jobs": {"secpipe": {"name": "secpipe run", "runs-on": "ubuntu-latest",
                             "timeout-minutes": 60, "steps": steps}},
    })


def gitlab_ci(cfg: PipelineConfig, *, project_dir: str = ".",
              pip_spec: str = f"secpipe=={__version__}") -> str:
    """A GitLab CI job: JUnit and SAST report artifacts, the run kept as an artifact."""
    tools = " ".join(tools_to_install(cfg))
    needs_node = any("deploy-local" in st.tools for st in cfg.stages.values())
    script = [
        f'pip install "{pip_spec}"',
        f"secpipe tools install {tools}".strip(),
        'export PATH="$HOME/.cache/secpipe/tools/bin:$PATH"',
        f'cd "{project_dir}"',
        "secpipe run . --out .secpipe --no-progress || code=$?",
        'cp -rL .secpipe/runs/latest "$CI_PROJECT_DIR/secpipe-report"',
        'secpipe ci gitlab-sast "$CI_PROJECT_DIR/secpipe-report" > '
        '"$CI_PROJECT_DIR/secpipe-report/gl-sast-report.json"',
        "exit ${code:-0}",
    ]
    return _dump({
        "stages": ["security"],
        "secpipe": {
            "stage": "security",
            "image": "python:3.11-bookworm",
            "variables": {"GIT_DEPTH": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
            **({"before_script": ["apt-get update -qq && apt-get install -y -qq nodejs npm "
                                  ">/dev/null"]} if needs_node else {}),
            "script": script,
            "artifacts": {
                "when": "always", "expire_in": "30 days", "paths": ["secpipe-report/"],
                "reports": {"junit": "secpipe-report/junit.xml",
                            "sast": "secpipe-report/gl-sast-report.json"}},
            "rules": [{"if": "$CI_PIPELINE_SOURCE == \"merge_request_event\""},
                      {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}],
        },
    })


def _gitlab_time(iso: str) -> str:
    """GitLab's schema wants `YYYY-MM-DDTHH:MM:SS` (no fraction, no zone)."""
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%S")
    except (ValueError, AttributeError):
        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def gitlab_sast_report(run_dir: Path) -> dict[str, Any]:
    """A run's findings (findings.asff.json) as a GitLab security report of type sast."""
    findings = json.loads((run_dir / "findings.asff.json").read_text(encoding="utf-8"))
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    vendor = {"name": "secpipe"}
    vulns = []
    for f in findings:
        if (f.get("Workflow") or {}).get("Status") == "SUPPRESSED":
            continue
        fields = f.get("ProductFields") or {}
        tool, rule = fields.get("secpipe/Tool", "secpipe"), fields.get("secpipe/RuleId", "")
        location: dict[str, Any] = {"file": fields.get("secpipe/Path")
                                    or f["Resources"][0].get("Id", "unknown")}
        if str(fields.get("secpipe/StartLine", "")).isdigit():
            location["start_line"] = int(fields["secpipe/StartLine"])
        if str(fields.get("secpipe/EndLine", "")).isdigit():
            location["end_line"] = int(fields["secpipe/EndLine"])
        identifiers = [{"type": tool, "name": f"{tool} {rule}".strip(), "value": rule or tool}]
        for cwe in filter(None, str(fields.get("secpipe/CWE", "")).split(",")):
            identifiers.append({"type": "cwe", "name": cwe, "value": cwe.removeprefix("CWE-"),
                                "url": f"https://cwe.mitre.org/data/definitions/"
                                       f"{cwe.removeprefix('CWE-')}.html"})
        vuln: dict[str, Any] = {
            "id": hashlib.sha256(f["Id"].encode()).hexdigest(),
            "name": f["Title"][:255], "description": f["Description"][:15000],
            "severity": _SEVERITY.get(f["Severity"]["Label"], "Unknown"),
            "location": location, "identifiers": identifiers}
        rec = ((f.get("Remediation") or {}).get("Recommendation") or {})
        if rec.get("Text"):
            vuln["solution"] = rec["Text"]
        vulns.append(vuln)
    tool = {"id": "secpipe", "name": "secpipe", "version": __version__, "vendor": vendor,
            "url": "https://github.com/secpipe/secpipe"}
    return {
        "version": SAST_SCHEMA_VERSION,
        "scan": {"analyzer": tool, "scanner": tool, "type": "sast",
                 "start_time": _gitlab_time(summary.get("started_at", "")),
                 "end_time": _gitlab_time(summary.get("finished_at", "")),
                 "status": "failure" if summary.get("exit_code") == 2 else "success"},
        "vulnerabilities": vulns,
    }
