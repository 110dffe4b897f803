"""A small hub for the dashboard tests and the README screenshot: three runs of one branch,
findings from several stages and tools built with `to_asff`, one fixed between runs, and a
HIGH finding whose title is markup (scanner output is untrusted)."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from secpipe.hub.interface import RunRecord
from secpipe.hub.store import SqlHubStore, open_store
from secpipe.model.asff import to_asff
from secpipe.model.finding import Category, Finding, Location, Resource, Severity, SourceContext
from secpipe.model.secret import Secret

USER, PASSWORD = "alice", "correct horse battery staple"
TOKEN = "dashboard-test-token-7f3a9c"
SCRIPT_TITLE = "<script>alert(1)</script>"
REPO, BRANCH = "github.com/example/shop", "main"

# (stage, tool, rule, title, severity, category, path, line)
BASE = [
    ("secrets", "gitleaks", "aws-access-token", "AWS access key in source", Severity.CRITICAL,
     Category.SECRET, "app/settings.py", 12),
    ("sast", "semgrep", "python.flask.xss", SCRIPT_TITLE, Severity.HIGH, Category.CODE,
     "app/views.py", 40),
    ("sast", "semgrep", "python.sqli", "SQL built from user input", Severity.HIGH,
     Category.CODE, "app/db.py", 77),
    ("sast", "bandit", "B303", "Use of insecure MD5 hash", Severity.MEDIUM, Category.CODE,
     "app/auth.py", 19),
    ("sast", "bandit", "B101", "Use of assert detected", Severity.LOW, Category.CODE,
     "app/util.py", 5),
    ("iac", "checkov", "CKV_AWS_20", "S3 bucket allows public read", Severity.HIGH,
     Category.MISCONFIGURATION, "infra/s3.tf", 3),
    ("iac", "checkov", "CKV_AWS_18", "S3 bucket access logging disabled", Severity.MEDIUM,
     Category.MISCONFIGURATION, "infra/s3.tf", 3),
    ("iac", "hadolint", "DL3008", "Pin versions in apt-get install", Severity.LOW,
     Category.MISCONFIGURATION, "Dockerfile", 4),
    ("sca", "trivy", "CVE-2023-32681", "requests leaks Proxy-Authorization header",
     Severity.MEDIUM, Category.VULNERABILITY, "requirements.txt", 1),
    ("sca", "trivy", "CVE-2024-0001", "example-lib remote code execution", Severity.CRITICAL,
     Category.VULNERABILITY, "requirements.txt", 2),
    ("sca", "trivy", "CVE-2022-0002", "example-lib informational advisory",
     Severity.INFORMATIONAL, Category.VULNERABILITY, "requirements.txt", 2),
]
FIXED_AFTER_RUN_1 = "B101"            # rule fixed between run 1 and run 2
ADDED_IN_RUN_3 = ("sast", "semgrep", "python.ssrf", "Request to a URL from user input",
                  Severity.HIGH, Category.CODE, "app/fetch.py", 22)


def finding(row: tuple) -> Finding:
    stage, tool, rule, title, sev, cat, path, line = row
    secret = Secret.from_value("AKIAIOSFODNN7EXAMPLE") if cat is Category.SECRET else None
    return Finding(
        tool=tool, rule_id=rule, title=title, severity=sev, category=cat,
        description=f"{title} ({rule}) found by {tool}.",
        location=Location(path=path, start_line=line, end_line=line),
        resource=Resource(type="Other", id=f"{REPO}/{path}") if cat is not Category.SECRET
        else None,
        remediation=f"Fix {rule} as the {tool} documentation explains.",
        remediation_url=f"https://docs.example.com/{tool}/{rule}",
        secret=secret,
    )


def asff(row: tuple, run_id: str, stamp: str) -> dict[str, Any]:
    ctx = SourceContext(repo=REPO, branch=BRANCH, commit=run_id[-7:] * 2, run_id=run_id,
                        stage=row[0], tool_version="1.0", observed_at=stamp)
    return to_asff(finding(row), ctx)


def summary(run_id: str, rows: list[tuple], verdict: str) -> dict[str, Any]:
    stages = []
    for stage in ("secrets", "sast", "iac", "sca"):
        mine = [r for r in rows if r[0] == stage]
        counts = Counter(r[4].name for r in mine)
        tools = sorted({r[1] for r in mine})
        blocking = sum(1 for r in mine if r[4] >= Severity.HIGH)
        stages.append({
            "name": stage, "status": "failed" if blocking else "passed", "mode": "enforce",
            "fail_on": "HIGH", "duration_s": 1.5, "error": None, "findings": len(mine),
            "counts": {s.name: counts.get(s.name, 0) for s in reversed(Severity)},
            "blocking": blocking, "suppressed": 0,
            "tools": [{"name": t, "status": "ok", "findings": sum(1 for r in mine if r[1] == t)}
                      for t in tools],
        })
    counts = Counter(r[4].name for r in rows)
    return {"summary_version": 1, "run_id": run_id, "status": verdict, "verdict": verdict,
            "exit_code": 1 if verdict == "failed" else 0,
            "context": {"repo": REPO, "branch": BRANCH, "commit": run_id[-7:] * 2},
            "totals": {"findings": len(rows),
                       "counts": {s.name: counts.get(s.name, 0) for s in reversed(Severity)}},
            "stages": stages}


def record(store: SqlHubStore, n: int, rows: list[tuple]) -> None:
    run_id = f"run-2024060{n}-000{n}abc"
    stamp = f"2024-06-0{n}T10:00:00.000Z"
    scope = sorted({(r[0], r[1]) for r in BASE + [ADDED_IN_RUN_3]})
    store.record_run(
        RunRecord(run_id=run_id, repo=REPO, branch=BRANCH, commit=run_id[-7:] * 2,
                  started_at=stamp, finished_at=f"2024-06-0{n}T10:03:00.000Z",
                  status="failed", exit_code=1, summary=summary(run_id, rows, "failed"),
                  scope=scope),
        [asff(r, run_id, stamp) for r in rows])


def seed(target: Path | str) -> SqlHubStore:
    """A hub at `target` (SQLite path or database URL) with three runs and the dashboard
    user; returns the open store."""
    store = open_store(target)
    record(store, 1, BASE)
    record(store, 2, [r for r in BASE if r[2] != FIXED_AFTER_RUN_1])
    record(store, 3, [r for r in BASE if r[2] != FIXED_AFTER_RUN_1] + [ADDED_IN_RUN_3])
    store.set_user_password(USER, PASSWORD)
    return store


@contextlib.contextmanager
def seeded_server(where: Path | str, **dashboard: Any) -> Iterator[tuple[str, SqlHubStore]]:
    """The real hub server (uvicorn on 127.0.0.1, a free port) with the dashboard, over a
    seeded store: SQLite in `where` when it is a folder, else the database URL `where`;
    yields (base URL, store)."""
    from secpipe.hub.api import create_app, running_server
    from secpipe.hub.dashboard import routes

    store = seed(where / "hub.db" if isinstance(where, Path) else where)
    dashboard.setdefault("token", TOKEN)
    token_role = dashboard.pop("token_role", "read")   # the hub token's role (default runtime)
    app = create_app(store, token_role=token_role, extra_routes=routes(store, **dashboard))
    try:
        with running_server(app) as url:
            yield url, store
    finally:
        store.close()


if __name__ == "__main__":   # python -m tests.hub.dashboard_seed /tmp/hub.db
    import sys

    seed(Path(sys.argv[1])).close()
