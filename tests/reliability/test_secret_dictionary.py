"""A hub or report reader cannot test password guesses: secret fingerprints are keyed.

A project leaks `Summer2024!` twice: as a keyword password (detect-secrets reports only the
SHA-1 of the value) and inside a database URL (trufflehog3 reports the clear URL, and its issue
id is uuid3 of `path:secret`). `secpipe run` (the CLI, real scanners) records it into the local
hub. The attacker holds everything a reader holds: the hub's database (a logical dump, the raw
file, its WAL), and the run's outputs (findings.asff.json, results.sarif, junit.xml,
report.html, summary.json, raw/, logs/); not the key file. They try a dictionary of 10,000
common passwords (made here from words x years x symbols), each in the two spellings the tools
saw, through every plain hash a tool or an output could use (MD5, SHA-1, SHA-256, SHA-512,
trufflehog3's uuid3), matching whole digests and any prefix of 8 or more hex digits. They
recover nothing. The same attacker given the key (HMAC-SHA-256) recovers `Summer2024!`, which
proves the search would find a weak fingerprint. docs/reliability.md, "Secrets at rest".
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Callable, Iterable

import pytest

pytestmark = pytest.mark.tools

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Summer2024!"
URL_FORM = 'postgres://app:{}@db.internal:5432/app"'   # trufflehog3's `secret` for the URL rule
TRUFFLEHOG3_RULE = "generic.password-in-url"
_NAMESPACE = uuid.UUID(int=0)
_HEX = re.compile(r"[0-9a-f]{8,}")


def dictionary(size: int = 10_000) -> list[str]:
    """Common password shapes: a word, maybe capitalised, a year or digits, a symbol."""
    words = ["summer", "winter", "spring", "autumn", "fall", "password", "welcome", "company",
             "admin", "letmein", "monkey", "dragon", "qwerty", "football", "baseball", "secret",
             "sunshine", "princess", "master", "shadow", "changeme", "london", "berlin", "paris",
             "hello", "freedom", "january", "december", "october", "july", "march", "service",
             "database", "postgres", "backup", "office", "corona", "covid", "holiday", "family"]
    years = [str(y) for y in range(2010, 2030)] + ["1", "12", "123", "1234", ""]
    symbols = ["", "!", "@", "#", "$", "!!", "?", "*", "."]
    out: dict[str, None] = {}
    for symbol in symbols:
        for year in years:
            for word in words:
                for spelled in (word.capitalize(), word, word.upper()):
                    out[spelled + year + symbol] = None
    candidates = list(out)[:size]
    assert len(candidates) == size and PASSWORD in candidates
    return candidates


def _plain_digests(form: str) -> Iterable[str]:
    data = form.encode("utf-8")
    for algorithm in ("md5", "sha1", "sha256", "sha512"):
        yield hashlib.new(algorithm, data).hexdigest()
    rule = uuid.uuid3(_NAMESPACE, TRUFFLEHOG3_RULE)
    yield uuid.uuid3(rule, f"db.env:{form}").hex


def recovered(corpus: str, hashes: Callable[[str], Iterable[str]]) -> set[str]:
    """Passwords whose digest (whole, or a prefix of 8+ hex digits) appears in `corpus`."""
    text = corpus.lower()
    tokens = set(_HEX.findall(text.replace("-", "")) + _HEX.findall(text))
    lengths = sorted({len(t) for t in tokens})
    found: set[str] = set()
    for password in dictionary():
        for form in (password, URL_FORM.format(password)):
            for digest in hashes(form):
                if any(digest[:n] in tokens for n in lengths if n <= len(digest)):
                    found.add(password)
    return found


def _corpus(out: Path) -> str:
    """Every byte a reader of the output folder and the hub gets, the key file excepted."""
    parts: list[str] = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        if path.name.endswith(".key"):
            continue
        parts.append(path.read_bytes().decode("latin-1"))
    with sqlite3.connect(out / "hub.db") as db:
        parts += list(db.iterdump())
    return "\n".join(parts)


@pytest.fixture(scope="module")
def leaked_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from secpipe.tools import tool_env, tools_dir

    for exe in ("detect-secrets", "trufflehog3"):
        if not __import__("shutil").which(exe, path=tool_env()["PATH"]):
            pytest.fail(f"{exe} is not installed: run `secpipe tools install` (make test does)")
    base = tmp_path_factory.mktemp("dictionary")
    project = base / "project"
    project.mkdir()
    (project / "settings.py").write_text(f'DB_PASSWORD = "{PASSWORD}"\n')
    (project / "db.env").write_text(f'DATABASE_URL = "{URL_FORM.format(PASSWORD)[:-1]}"\n')
    (project / "secpipe.yml").write_text("""version: 1
project: {name: dictionary}
stages:
  secrets:
    tools: [detect-secrets, trufflehog3]
    fail_on: low
tools:
  trufflehog3: {history: false}
""")
    out = base / "out"
    env = {**os.environ, "SECPIPE_TOOLS_DIR": str(tools_dir()), "TMPDIR": str(base),
           "PYTHONPATH": str(ROOT / "src")}
    env.pop("SECPIPE_FINGERPRINT_KEY_FILE", None)
    done = subprocess.run([sys.executable, "-m", "secpipe", "run", str(project), "--out",
                           str(out), "--no-progress"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 1, done.stderr + done.stdout   # findings: the gate fails
    run_dir = next(p for p in (out / "runs").iterdir() if not p.is_symlink())
    for name in ("findings.asff.json", "findings.ocsf.json", "results.sarif", "junit.xml",
                 "report.html", "summary.json"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "raw").rglob("*.json")) and list((run_dir / "logs").iterdir())
    corpus = _corpus(out)
    return out, corpus


def test_the_run_did_find_the_password_both_ways(leaked_run: tuple[Path, str]) -> None:
    out, corpus = leaked_run
    with sqlite3.connect(out / "hub.db") as db:
        titles = [t for (t,) in db.execute("SELECT title FROM findings")]
    tools = {t.split(" ")[0] for t in titles}
    assert any("Secret Keyword" in t and "settings.py" in t for t in titles), titles
    assert any("Password in URL" in t and "db.env" in t for t in titles), titles
    assert PASSWORD not in corpus and hashlib.sha1(PASSWORD.encode()).hexdigest() not in corpus
    assert tools


def test_a_dictionary_recovers_nothing_without_the_key(leaked_run: tuple[Path, str]) -> None:
    _, corpus = leaked_run
    assert recovered(corpus, _plain_digests) == set()


def test_the_same_attack_with_the_key_recovers_the_password(
        leaked_run: tuple[Path, str]) -> None:
    """The control: the search finds keyed digests once it holds the key."""
    out, corpus = leaked_run
    key = bytes.fromhex((out / "hub.db.key").read_text().strip())
    assert (out / "hub.db.key").stat().st_mode & 0o077 == 0

    def with_key(form: str) -> Iterable[str]:
        yield from _plain_digests(form)
        yield hmac.new(key, form.encode("utf-8"), hashlib.sha256).hexdigest()
        yield hmac.new(key, f"sha1:{hashlib.sha1(form.encode()).hexdigest()}".encode(),
                       hashlib.sha256).hexdigest()

    assert recovered(corpus, with_key) == {PASSWORD}


def test_the_output_folder_is_git_ignored(leaked_run: tuple[Path, str]) -> None:
    out, _ = leaked_run
    assert (out / ".gitignore").read_text() == "*\n"
