"""The fail-closed matrix: every scanner adapter x every way its tool can fail -> stage ERROR.

For each adapter in `all_scanners()` that runs an executable, a fake of that executable on a
controlled PATH (the pattern of tests/test_fail_closed.py) fails in each way a real tool can:
it is missing, exits non-zero without a report, exits "ok" without a report, writes an empty
or a garbage report, hangs past the stage timeout, or is killed by a signal. Every case must
end with the stage ERROR, the run's exit code 2, and a stage error that names the tool and the
cause. A case that cannot happen to an adapter (a deploy step has no report) is listed in
`na` with the reason; adapters that run no executable are skipped, saying why.
docs/reliability.md, "Fail closed".
"""

from __future__ import annotations

import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.result import StageStatus
from secpipe.scanners.registry import all_scanners

CASES = ("missing", "crash", "no-report", "empty-report", "garbage", "timeout", "signal")
CAUSE = {
    "missing": r"missing|not found|not installed",
    "crash": r"exited with code [1-9]\d*|crash",
    "no-report": r"no report|wrote no|empty report|no archive|unparsable",
    "empty-report": r"empty report|wrote no|no archive|unparsable|not JSON|footer",
    "garbage": r"unparsable|not JSON|not a CycloneDX|footer",
    "timeout": r"timed out|did not answer|timeout",
    "signal": r"signal SIGKILL|died of signal 9",  # git reports its subcommand's death
}
TIMEOUT = 2  # the stage timeout in the timeout case (seconds)
NO_REPORT = "produces no report: its output is a deployment or an image, not findings"

# Adapters that start no executable of their own: nothing to fake on PATH.
SKIP = {
    "osv-match": "matches in-process against secpipe's own vulnerability DB; its failures "
                 "(empty or stale DB, unreadable SBOM) are tested in "
                 "tests/vulndb/test_osv_match_adapter.py",
    "ecr-scan": "calls the ECR API through boto3, no executable; its failures (API errors, "
                "a scan that never completes) are tested in tests/sbom/test_ecr_scan.py",
    "runtime-sensor": "watches the deployed service in-process (proc connector, fanotify); "
                      "tested in tests/runtime",
}


@dataclass
class Profile:
    exe: str                          # the executable faked on PATH
    # where the report goes: stdout | stderr | file:<flag> | dir:<flag>:<name> | eq:<prefix>
    report: str
    good: str                         # a valid report
    ok: int = 0                       # the exit code that means "report written"
    options: str = ""                 # YAML under tools.<name>
    files: dict[str, str] = field(default_factory=dict)
    na: dict[str, str] = field(default_factory=dict)
    body: dict[str, str] = field(default_factory=dict)  # per-case shell overrides


HADOLINT_OK = ('[{"line":1,"code":"DL3006","message":"Tag the image","column":1,'
               '"file":"Dockerfile","level":"warning"}]')
GIT_SECRETS_OK = "app.py:1:AKIAIOSFODNN7EXAMPLF\n[ERROR] Matched one or more prohibited patterns"
CYCLONEDX_OK = '{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []}'

PROFILES: dict[str, Profile] = {
    "hadolint": Profile("hadolint", "stdout", HADOLINT_OK, files={"Dockerfile": "FROM alpine\n"}),
    "git-secrets": Profile(
        "git-secrets", "stderr", GIT_SECRETS_OK, ok=1, options="history: false",
        # git-secrets prints its matches on stderr and exits 1; "no report" is exit 1 bare
        na={"no-report": "exit 0 without output is git-secrets' own clean result (exit 1 "
                         "without output is the crash case's sibling: tested as empty-report)"}),
    "detect-secrets": Profile("detect-secrets", "stdout",
                              '{"version": "1.5.0", "plugins_used": [], "results": {}}'),
    "trufflehog3": Profile("trufflehog3", "file:--output", "[]", ok=0),
    "kingfisher": Profile("kingfisher", "file:--output",
                          '{"findings": [], "metadata": {"kingfisher_version": "2.14.0"}}',
                          options="history: false"),
    "checkov": Profile("checkov", "dir:--output-file-path:results_json.json",
                       '{"check_type": "dockerfile", "results": {"failed_checks": []}, '
                       '"summary": {"passed": 0, "failed": 0}}',
                       options="frameworks: [dockerfile]"),
    "trivy": Profile("trivy", "file:--output", '{"SchemaVersion": 2, "Results": []}'),
    "trivy-vuln": Profile("trivy", "file:--output", '{"SchemaVersion": 2, "Results": []}'),
    "grype": Profile("grype", "stdout", '{"matches": [], "source": {"type": "directory"}}'),
    "sbom": Profile("syft", "eq:cyclonedx-json=", CYCLONEDX_OK, options="engine: syft"),
    "dast": Profile("wapiti", "file:-o",
                    '{"vulnerabilities": {}, "anomalies": {}, "additionals": {}, '
                    '"classifications": {}, "infos": {"target": "http://127.0.0.1:9/"}}',
                    options="engine: wapiti\n      target: http://127.0.0.1:9/"),
    "deploy-helm": Profile("helm", "stdout", "", options="dry_run: true",
                           na={c: NO_REPORT for c in ("no-report", "empty-report", "garbage")}),
    "build-image": Profile(
        "docker", "file:-o", "image archive", options="engine: docker",
        files={"Dockerfile": "FROM alpine\n"},
        na={"garbage": "an image archive is not parsed here: the stages that need it (sbom, "
                       "grype) refuse a broken one, tested in tests/sbom"}),
    "deploy-local": Profile(
        "sh", "stdout", "", options="command: fake-server\n      health_timeout: 2",
        na={"missing": "its executable is sh; a missing service command is its crash case",
            **{c: NO_REPORT for c in ("no-report", "empty-report", "garbage")}}),
}


def _script(profile: Profile, case: str) -> str:
    """A fake tool: answers version probes, then fails (or not) the way `case` says."""
    out = profile.report
    lines = ["#!/bin/sh",
             'case "$1" in --version|version|-v) echo "fake 9.9.9"; exit 0;; esac',
             '[ "$1" = info ] && exit 0',     # docker's daemon probe
             'OUT=""; prev=""',
             'for a in "$@"; do']
    if out.startswith(("file:", "dir:")):
        flag = out.split(":")[1]
        lines.append(f'  [ "$prev" = "{flag}" ] && OUT="$a"')
    if out.startswith("eq:"):
        prefix = out[3:]
        lines.append(f'  case "$a" in {prefix}*) OUT="${{a#{prefix}}}";; esac')
    lines += ['  prev="$a"', "done"]
    if out.startswith("dir:"):
        lines.append(f'OUT="$OUT/{out.split(":")[2]}"')
    if profile.exe == "docker":   # `docker build` succeeds; `docker save -o FILE` is the report
        lines.append('[ "$1" = build ] && [ "$CASE" != crash ] && [ "$CASE" != timeout ] '
                     '&& [ "$CASE" != signal ] && exit 0')

    def emit(content: str) -> str:
        quoted = content.replace("'", "'\\''")
        if out == "stdout":
            return f"printf '%s\\n' '{quoted}'"
        if out == "stderr":
            return f"printf '%s\\n' '{quoted}' >&2"
        return f"printf '%s' '{quoted}' > \"$OUT\""

    if out == "stderr":
        empty = f"printf '\\n' >&2; exit {profile.ok}"
    elif out == "stdout":
        empty = f"printf ''; exit {profile.ok}"
    else:
        empty = f"printf '' > \"$OUT\"; exit {profile.ok}"
    body = {
        "crash": "echo 'fatal: segmentation fault (core dumped)' >&2; exit 3",
        "no-report": f"exit {profile.ok}",
        "empty-report": empty,
        "garbage": f"{emit('this is not a report {')}; exit {profile.ok}",
        "timeout": "sleep 60",
        "signal": "kill -9 $$",
        "good": f"{emit(profile.good)}; exit {profile.ok}",
    }
    lines.insert(1, f"CASE={case}")
    lines.append(profile.body.get(case, body[case]))
    return "\n".join(lines) + "\n"


def _path_with(bin_dir: Path, names: tuple[str, ...] = ()) -> str:
    """A PATH holding only the system tools the fakes and git need, plus the fakes."""
    for tool in ("sh", "sleep", "kill", "cat", "printf", "git", "env", *names):
        found = shutil.which(tool)
        if found and not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def _install(bin_dir: Path, name: str, text: str) -> None:
    path = bin_dir / name
    if path.is_symlink():
        path.unlink()
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _project(tmp_path: Path, tool: str, profile: Profile, timeout: float) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    for rel, content in profile.files.items():
        (root / rel).write_text(content)
    options = f"tools:\n  {tool}:\n      {profile.options}\n" if profile.options else ""
    (root / "secpipe.yml").write_text(
        f"version: 1\nstages:\n  scan:\n    tools: [{tool}]\n    timeout: {timeout}\n{options}")
    return root


def _matrix() -> list:
    params = []
    for tool in sorted(all_scanners()):
        if tool in SKIP:
            params.append(pytest.param(tool, "-", marks=pytest.mark.skip(reason=SKIP[tool]),
                                       id=f"{tool}-skipped"))
            continue
        profile = PROFILES.get(tool)
        for case in CASES:
            if profile is not None and case in profile.na:
                params.append(pytest.param(tool, case, id=f"{tool}-{case}", marks=pytest.mark.skip(
                    reason=f"{tool}: {profile.na[case]}")))
            else:
                params.append(pytest.param(tool, case, id=f"{tool}-{case}"))
    return params


@pytest.fixture(autouse=True)
def own_tool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The version cache goes to a throwaway tool dir, not the user's."""
    monkeypatch.setenv("SECPIPE_TOOLS_DIR", str(tmp_path / "tools"))


def test_every_adapter_has_a_profile_or_a_reason() -> None:
    missing = sorted(set(all_scanners()) - set(PROFILES) - set(SKIP))
    assert not missing, f"new scanner adapters need a fail-closed profile here: {missing}"


@pytest.mark.parametrize("tool", sorted(PROFILES))
def test_the_fake_passes_when_it_writes_a_good_report(tool: str, tmp_path: Path) -> None:
    """The control: with a valid report the same fake gives a stage that is not ERROR, so each
    failure below is the failure's doing, not the fake's."""
    profile = PROFILES[tool]
    if tool in ("deploy-local",):
        pytest.skip("a service that answers its health check is tests/pipeline/test_deploy_dast.py")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _install(bin_dir, profile.exe, _script(profile, "good"))
    root = _project(tmp_path, tool, profile, 60)
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", use_hub=False,
                                  env={"PATH": _path_with(bin_dir), "HOME": str(tmp_path)}))
    stage = run.stages[0]
    assert stage.status is not StageStatus.ERROR, stage.error


@pytest.mark.parametrize("tool, case", _matrix())
def test_fail_closed(tool: str, case: str, tmp_path: Path) -> None:
    profile = PROFILES[tool]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if case != "missing":
        _install(bin_dir, profile.exe, _script(profile, case))
    if tool == "deploy-local":   # the service command is the fake; sh is the real one
        _install(bin_dir, "fake-server", _script(profile, case))
    root = _project(tmp_path, tool, profile, TIMEOUT if case == "timeout" else 60)
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", use_hub=False,
                                  env={"PATH": _path_with(bin_dir), "HOME": str(tmp_path)}))
    [stage] = run.stages
    assert stage.status is StageStatus.ERROR, (stage.status, stage.error)
    assert run.exit_code == 2
    error = stage.error or ""
    assert error.startswith(f"{tool}: "), error                     # names the tool
    assert re.search(CAUSE[case], error, re.IGNORECASE), error      # and the cause
    [result] = stage.tools
    log = (Path(run.run_dir) / result.log_file).read_text()
    assert "ERROR" in log or re.search(CAUSE[case], log, re.IGNORECASE), log[-500:]
