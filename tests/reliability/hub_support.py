"""Shared pieces of the hub reliability tests and `bench/hub_soak.py`.

- `HubProcess`: the hub as operators run it, `python -m secpipe hub serve` in its own process,
  so that `kill -9` hits a real server mid-request and the importers get real parallelism.
- `client`: one unmodified boto3 `securityhub` client (its own botocore session: clients are
  not shared between threads), no retries so every failure is seen.
- `finding`: an ASFF finding already in the form the hub stores (everything Security Hub
  derives on import is filled in), so "the stored document equals the newest one sent" is a
  plain equality, computed without the hub's code.
- `table_state`: the whole findings table read straight from the database, with the side
  tables checked row for row against the documents (and SQLite's own integrity check).

No pytest here: the bench imports it too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

REGION = "us-east-1"
ACCOUNT = "123456789012"
ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
KEY_ID = "SPKRELIABILITY0000001"
SECRET = "reliability-secret-for-tests-only-0000000"
NORMALIZED = {"INFORMATIONAL": 0, "LOW": 1, "MEDIUM": 40, "HIGH": 70, "CRITICAL": 90}
LABELS = tuple(NORMALIZED)
TYPES = ("Software and Configuration Checks/Vulnerabilities/CVE",
         "Software and Configuration Checks/Industry and Regulatory Standards",
         "Effects/Data Exposure", "TTPs/Initial Access")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqlalchemy_url(db: str) -> str:
    """The hub's `--db` value as a SQLAlchemy URL (psycopg 3 for PostgreSQL)."""
    if db.startswith("postgresql://"):
        return "postgresql+psycopg://" + db[len("postgresql://"):]
    return db if "://" in db else f"sqlite:///{db}"


class HubProcess:
    """`python -m secpipe hub serve --db DB` on a free loopback port, with an access key
    given by environment. `start` waits for /health; `kill9` is SIGKILL, nothing graceful."""

    def __init__(self, db: str, workdir: Path, extra_args: tuple[str, ...] = ("--rate-limit", "0")
                 ) -> None:
        """extra_args: more `hub serve` options; by default no rate limit, since these tests
        and the soak bench drive many importers through one key on purpose."""
        self.db = db
        self.workdir = Path(workdir)
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> "HubProcess":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log = open(self.workdir / f"hub-{self.starts}.log", "wb")
        env = {**os.environ, "SECPIPE_HUB_ACCESS_KEY_ID": KEY_ID,
               "SECPIPE_HUB_SECRET_ACCESS_KEY": SECRET,
               "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
        for attempt in range(5):      # a free port can be taken between probe and bind
            self.port = free_port()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "secpipe", "hub", "serve", "--db", self.db,
                 "--port", str(self.port), *self.extra_args],
                cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
            if self._wait_healthy(timeout):
                log.close()
                return self
            self.stop()
        log.close()
        raise RuntimeError(f"hub did not start; see {log.name}:\n"
                           + Path(log.name).read_text(errors="replace")[-3000:])

    def _wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        return False

    def kill9(self) -> None:
        """SIGKILL the server: no shutdown handler, no rollback, no flush runs."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)

    def rss_kb(self, kind: str = "VmRSS") -> int:
        """The server's resident memory in kB (0 once it has exited): `VmRSS` in all, or
        `RssAnon`, its heap alone (SQLite's mmap of the database file counts in VmRSS as
        `RssFile`, and grows with the file up to mmap_size without being a leak)."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(kind + ":"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0


_LOADER: Any = None


def client(url: str, *, timeout: float = 60.0) -> Any:
    """A boto3 `securityhub` client of its own (own session), no retries.

    The sessions share botocore's data loader (the parsed service model, read-only once
    loaded); building fifty clients would otherwise re-read the model fifty times."""
    global _LOADER
    import boto3
    import botocore.session
    from botocore.config import Config

    core = botocore.session.get_session()
    if _LOADER is None:
        _LOADER = core.get_component("data_loader")
    core.register_component("data_loader", _LOADER)
    session = boto3.session.Session(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                                    region_name=REGION, botocore_session=core)
    return session.client(
        "securityhub", endpoint_url=url,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=timeout,
                      connect_timeout=10, max_pool_connections=4))


def stamp(seconds: float) -> str:
    """An ISO 8601 instant `seconds` after 2024-01-01T00:00:00Z, millisecond precision."""
    whole = int(seconds)
    ms = int(round((seconds - whole) * 1000))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    month_day = 1 + days              # callers stay inside January
    assert month_day <= 31, "stamp() only spans January 2024"
    return f"2024-01-{month_day:02d}T{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}Z"


def finding(fid: str, updated: str, marker: str, *, variant: int = 0,
            created: str = "2024-01-01T00:00:00.000Z") -> dict[str, Any]:
    """A finding in the hub's stored form; `variant` changes severity, types, resources and
    ProductFields, so successive versions rewrite the side tables too."""
    label = LABELS[variant % len(LABELS)]
    types = list(TYPES[: 1 + variant % len(TYPES)])
    severity = {"Label": label, "Normalized": NORMALIZED[label]}
    resources = [{"Type": "Other", "Id": f"{fid}/r{i}", "Partition": "aws", "Region": REGION}
                 for i in range(1 + variant % 3)]
    fields = {"rel/Marker": marker, "rel/Variant": str(variant)}
    if variant % 2:
        fields["rel/Odd"] = "yes"
    return {
        "SchemaVersion": "2018-10-08", "Id": fid, "ProductArn": ARN,
        "ProductName": "Default", "CompanyName": "Personal", "Region": REGION,
        "GeneratorId": "secpipe-reliability", "AwsAccountId": ACCOUNT,
        "Types": types, "CreatedAt": created, "UpdatedAt": updated,
        "Severity": severity, "Title": f"{fid} {marker}",
        "Description": f"reliability finding {fid}, version {marker}",
        "Resources": resources, "ProductFields": fields,
        "RecordState": "ACTIVE", "Workflow": {"Status": "NEW"},
        "FindingProviderFields": {"Severity": {"Label": label}, "Types": list(types)},
    }


def side_counts(doc: dict[str, Any]) -> tuple[int, int, int]:
    """(types, resources, map) side-table rows a `finding` document must have: map holds its
    ProductFields, plus one marker row because its FindingProviderFields.Severity has no
    Original, so that key's values differ from its top-level twin (see hub/query_fpf.py)."""
    fpf_severity = doc.get("FindingProviderFields", {}).get("Severity", {})
    markers = 0 if "Original" in fpf_severity else 1
    return (len(set(doc["Types"])), len(doc["Resources"]), len(doc["ProductFields"]) + markers)


@dataclass
class TableState:
    docs: dict[str, dict[str, Any]]                 # Id -> stored document
    rows: int                                       # rows in `findings`
    side: dict[str, int]                            # side table -> row count
    problems: list[str] = field(default_factory=list)


def sqlite_integrity(path: str | Path) -> list[str]:
    """PRAGMA integrity_check and foreign_key_check of a SQLite hub file ([] when sound)."""
    conn = sqlite3.connect(str(path))
    try:
        out = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        out = [] if out == ["ok"] else out
        out += [f"foreign key: {r}" for r in conn.execute("PRAGMA foreign_key_check")]
        return out
    finally:
        conn.close()


def table_state(db: str) -> TableState:
    """Every finding as stored, and what is wrong with the side tables (`problems`): each
    finding's types, resources and map rows must be exactly those its document implies,
    with no row left over from an older version or a half-written batch."""
    from secpipe.hub.common import canon_time
    from secpipe.hub.validate import side_rows

    engine = create_engine(sqlalchemy_url(db))
    problems: list[str] = []
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT pk, id, product_arn, updated_at, doc FROM findings")).all()
            tables = {}
            for name, cols in (("finding_types", "finding_pk, type"),
                               ("finding_resources",
                                "finding_pk, idx, type, id, partition, region"),
                               ("finding_map", "finding_pk, kind, key, v, \"full\"")):
                tables[name] = [tuple(r) for r in conn.execute(text(
                    f"SELECT {cols} FROM {name}"))]
    finally:
        engine.dispose()
    docs: dict[str, dict[str, Any]] = {}
    expected: dict[str, set] = {name: set() for name in tables}
    for pk, fid, arn, updated, raw in rows:
        doc = json.loads(raw)
        doc.pop("ProcessedAt", None)   # the hub stamps it on every import: not the sender's data
        if (doc.get("Id"), doc.get("ProductArn")) != (fid, arn):
            problems.append(f"pk {pk}: columns ({fid}, {arn}) disagree with its document")
        if canon_time(doc["UpdatedAt"]) != updated:
            problems.append(f"{fid}: updated_at column {updated} != document {doc['UpdatedAt']}")
        if fid in docs:
            problems.append(f"{fid}: stored twice")
        docs[fid] = doc
        types, resources, maps = side_rows(pk, doc)
        expected["finding_types"].update(types)
        expected["finding_resources"].update(resources)
        expected["finding_map"].update(maps)
    for name, got in tables.items():
        got_set = set(got)
        if len(got_set) != len(got):
            problems.append(f"{name}: duplicate rows")
        extra, missing = got_set - expected[name], expected[name] - got_set
        if extra:
            problems.append(f"{name}: {len(extra)} rows no document explains, e.g. "
                            f"{sorted(extra, key=repr)[:3]}")
        if missing:
            problems.append(f"{name}: {len(missing)} rows missing, e.g. "
                            f"{sorted(missing, key=repr)[:3]}")
    return TableState(docs, len(rows), {n: len(r) for n, r in tables.items()}, problems)
