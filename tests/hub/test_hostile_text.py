"""A finding's text is a scanner's: neither `secpipe findings list` nor the dashboard lets it
drive the reader's terminal or reorder what is read.

Findings carrying ANSI CSI sequences (clear screen, recolour), an OSC 8 hyperlink and an OSC 52
clipboard write, C0/C1 controls and bidi overrides/isolates are imported into a real hub (SQLite)
and shown by the CLI (a child process, as a user runs it) and by the dashboard (a real server).
The HTML report, SARIF and JUnit share the rule (secpipe.textsafe; tests/test_outputs.py and
tests/reliability/test_hostile_output.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.hub.dashboard_seed import PASSWORD, USER, seeded_server

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_TITLE = ("\x1b[2J\x1b[32mGate passed\x1b[0m \x1b]8;;https://evil.example/\x07click\x1b]8;;"
                 "\x07 \x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07\x07\x08\x9b31m \u202eexe.txt\u202c "
                 "\u2066iso\u2069 \u200fend")
# Anything a terminal or a browser would act on or reorder by.
ACTIVE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _hostile_doc(store, source: dict) -> dict:
    doc = dict(source)
    doc.update(Id="hostile/1", Title=HOSTILE_TITLE,
               Description="line one\n\x1b[1A\x1b[2Kline rewritten \u202egnp.exe",
               RecordState="ACTIVE", Workflow={"Status": "NEW"})
    result = store.batch_import([doc])
    assert result.failed_count == 0, result.failed
    return doc


def test_findings_list_prints_no_escape_control_or_bidi(tmp_path: Path) -> None:
    with seeded_server(tmp_path / "hub") as (_, store):
        found, _ = store.get_findings({}, None, 1)
        _hostile_doc(store, found[0])
        db = str(tmp_path / "hub" / "hub.db")
        for view in ([], ["--wide"], ["--ids"]):   # the table, full lines, only Ids
            done = subprocess.run(
                [sys.executable, "-m", "secpipe", "findings", "list", "--hub", db, "--limit",
                 "500", *view], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "COLUMNS": "400",
                     "TERM": "dumb", "HOME": str(tmp_path)})
            assert done.returncode == 0, done.stderr
            out = done.stdout
            assert "hostile/1" in out or not view, (view, out)
            if view != ["--ids"]:
                assert "Gate passed" in out and "exe.txt" in out, (view, out)
                assert "\ufffd" in out   # the bidi override shows as a visible replacement
            assert not ACTIVE.search(out), repr(ACTIVE.findall(out))
            assert "[2J" not in out and "]8;;" not in out and "52;c;" not in out
        # --json stays the data as stored (JSON escapes it; the reader's tool decides)
        as_json = subprocess.run(
            [sys.executable, "-m", "secpipe", "findings", "list", "--hub", db, "--json",
             "--limit", "500"], capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        assert any(f["Title"] == HOSTILE_TITLE for f in json.loads(as_json.stdout))


def test_the_dashboard_shows_no_escape_control_or_bidi(tmp_path: Path) -> None:
    arn = "arn:aws:securityhub:us-east-1:000000000000:product/000000000000/default"
    with seeded_server(tmp_path / "hub") as (url, store):
        found, _ = store.get_findings({}, None, 1)
        doc = _hostile_doc(store, found[0])
        with httpx.Client(base_url=url, follow_redirects=False, timeout=10) as c:
            token = re.search(r'name="csrf" value="([^"]+)"', c.get("/ui/login").text).group(1)
            r = c.post("/ui/login", data={"csrf": token, "username": USER, "password": PASSWORD})
            assert r.status_code == 303, r.text
            pages = [c.get("/ui/findings").text,
                     c.get("/ui/finding", params={"id": "hostile/1",
                                                   "arn": doc.get("ProductArn", arn)}).text]
        for page in pages:
            assert "Gate passed" in page and "exe.txt" in page
            assert not ACTIVE.search(page), repr(ACTIVE.findall(page))
            assert "\ufffd" in page
        # shown text loses the sequences whole; only the page's JSON view keeps them, inert
        # as JSON escapes (`\u001b[1A`)
        assert "line rewritten" in pages[1]
        assert pages[1].count("[1A") == pages[1].count("\\u001b[1A")
