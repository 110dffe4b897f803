"""Where the key of secret fingerprints lives, that it keeps Ids stable, and that the folders
secpipe creates for its output and hub are git-ignored (secpipe.secretkey)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secpipe.keyfile import KeyFileError
from secpipe.model import FingerprintKey, Secret, keyed
from secpipe.secretkey import (
    KEY_FILE_ENV, fingerprint_key_path, hub_key_path, load_fingerprint_key, make_private_dir,
)

ROOT = Path(__file__).resolve().parents[1]


def test_where_the_key_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    out = tmp_path / ".secpipe"
    assert hub_key_path(str(out / "hub.db")) == out / "hub.db.key"
    assert hub_key_path(f"sqlite:///{tmp_path}/team.db") == tmp_path / "team.db.key"
    assert hub_key_path("postgresql://hub@db/secpipe") is None
    assert hub_key_path("https://hub.example") is None
    # hub-less runs and remote hubs use the project's key: the one its local hub uses
    assert fingerprint_key_path(None, out) == out / "hub.db.key"
    assert fingerprint_key_path("https://hub.example", out) == out / "hub.db.key"
    assert fingerprint_key_path(str(tmp_path / "team.db"), out) == tmp_path / "team.db.key"
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "ci.key"))
    assert fingerprint_key_path(str(tmp_path / "team.db"), out) == tmp_path / "ci.key"


def test_the_key_file_is_private_and_a_named_one_must_exist(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    out = tmp_path / "out"
    first = load_fingerprint_key(None, out)
    path = out / "hub.db.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (out / ".gitignore").read_text() == "*\n"
    assert first.digest("x") == load_fingerprint_key(None, out).digest("x")   # kept
    assert "hub.db.key" not in repr(first) and path.read_text().strip() not in repr(first)
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_fingerprint_key(None, out)
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "missing.key"))
    with pytest.raises(KeyFileError, match="no such file"):
        load_fingerprint_key(None, out)


def test_digests_are_keyed_stable_per_key_and_equal_for_equal_values() -> None:
    a, b = FingerprintKey(b"a" * 32), FingerprintKey(b"b" * 32)
    with keyed(a):
        one, two = Secret.from_value("Summer2024!"), Secret.from_value("Summer2024!")
        from_sha1 = Secret.from_hash("7e8b0a3433f1210a9699d85420e363a1b162ecac")
    with keyed(b):
        other = Secret.from_value("Summer2024!")
    assert one == two and one.sha256 != other.sha256
    assert "7e8b0a34" not in from_sha1.sha256 + from_sha1.masked
    with pytest.raises(ValueError):
        FingerprintKey(b"short")


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=16, max_size=200), value=st.text(max_size=300))
def test_digest_is_hmac_sha256_of_the_value(key: bytes, value: str) -> None:
    """`digest` copies precomputed padded-key states instead of calling hmac.new: the same
    hex, for keys shorter than, equal to and longer than SHA-256's 64-byte block."""
    import hashlib
    import hmac

    fkey = FingerprintKey(key)
    want = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    assert fkey.digest(value) == want
    assert fkey.digest(value) == want   # the kept states are copied, never consumed


def test_make_private_dir_writes_gitignore_only_when_it_creates(tmp_path: Path) -> None:
    made = make_private_dir(tmp_path / "a" / ".secpipe")
    assert (made / ".gitignore").read_text() == "*\n"
    existing = tmp_path / "mine"
    existing.mkdir()
    make_private_dir(existing)
    assert not (existing / ".gitignore").exists()


def _secpipe(*args: str, cwd: Path, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != KEY_FILE_ENV}
    return subprocess.run([sys.executable, "-m", "secpipe", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300,
                          env={**base, "PYTHONPATH": str(ROOT / "src"), **(env or {})})


def test_hub_keys_create_gitignores_the_new_hub_folder(tmp_path: Path) -> None:
    done = _secpipe("hub", "keys", "create", "--role", "ci", "--label", "ci", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".secpipe" / "hub.db").is_file()
    assert (tmp_path / ".secpipe" / ".gitignore").read_text() == "*\n"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                            cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert ".secpipe" not in status


@pytest.mark.tools
def test_ids_are_stable_with_one_key_and_differ_with_another(tmp_path: Path) -> None:
    """Real detect-secrets, hub-less: same key -> same Ids; another key -> other Ids."""
    from secpipe.tools import tools_dir

    project = tmp_path / "project"
    project.mkdir()
    (project / "settings.py").write_text('DB_PASSWORD = "Summer2024!"\n')
    (project / "secpipe.yml").write_text("stages:\n  secrets: {tools: [detect-secrets]}\n")
    env = {"SECPIPE_TOOLS_DIR": str(tools_dir())}

    def ids(out: Path, extra_env: dict[str, str] | None = None) -> list[str]:
        done = _secpipe("run", str(project), "--out", str(out), "--no-hub", "--no-progress",
                        cwd=tmp_path, env={**env, **(extra_env or {})})
        assert done.returncode == 1, done.stderr + done.stdout
        latest = out / "runs" / "latest" / "findings.asff.json"
        found = json.loads(latest.read_text())
        assert found and all("7e8b0a34" not in json.dumps(f) for f in found)
        return sorted(f["Id"] for f in found)

    out = tmp_path / "out"
    first, second = ids(out), ids(out)
    assert first == second
    other = tmp_path / "other.key"
    other.write_text(os.urandom(32).hex() + "\n")
    other.chmod(0o600)
    assert ids(out, {KEY_FILE_ENV: str(other)}) != first
    # the variable names a file: a missing one is a config error, exit 2, before any tool
    done = _secpipe("run", str(project), "--out", str(out), "--no-hub", "--no-progress",
                    cwd=tmp_path, env={**env, KEY_FILE_ENV: str(tmp_path / "nope.key")})
    assert done.returncode == 2 and "no such file" in done.stderr and "Traceback" not in done.stderr


def test_the_lambda_takes_its_key_from_the_variable(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import hmac

    from secpipe.secretkey import key_from_env

    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    assert key_from_env() is None
    path = tmp_path / "lambda.key"
    path.write_text("ab" * 32 + "\n")
    path.chmod(0o600)
    monkeypatch.setenv(KEY_FILE_ENV, str(path))
    expected = hmac.new(bytes.fromhex("ab" * 32), b"v", hashlib.sha256).hexdigest()
    assert key_from_env().digest("v") == expected
    path.unlink()
    with pytest.raises(KeyFileError):
        key_from_env()


def test_tool_hashes_are_scrubbed_in_one_pass_in_any_case() -> None:
    import hashlib
    import uuid

    from secpipe.model import keyed_tool_hash

    key = FingerprintKey(b"s" * 32)
    sha1s = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(5000)]
    an_id = str(uuid.uuid3(uuid.UUID(int=0), "app.env:Summer2024!"))
    with keyed(key):
        for digest in sha1s:
            Secret.from_hash(digest)
        keyed_id = keyed_tool_hash("uuid3", an_id)
    report = json.dumps({"results": [{"hashed_secret": d} for d in sha1s],
                         "upper": sha1s[7].upper(), "id": an_id, "other": "deadbeefcafe0000",
                         "in_text": f"value {sha1s[9]}, id={an_id}."}).encode()
    scrubbed = key.scrub_hashes(report)
    for digest in sha1s:
        assert digest.encode() not in scrubbed.lower()
    assert an_id.encode() not in scrubbed and keyed_id.encode() in scrubbed
    doc = json.loads(scrubbed)
    assert doc["other"] == "deadbeefcafe0000"                      # not a reported hash
    assert doc["results"][3]["hashed_secret"] == key.rekey("sha1", sha1s[3])


def test_the_hash_table_follows_every_hash_added_or_rekeyed() -> None:
    """scrub_hashes searches the recorded table (bytes) itself: a hash reported later is
    scrubbed, one re-keyed under another algorithm gets its new digest, and rekeying a hash
    again changes nothing."""
    import hashlib

    key = FingerprintKey(b"t" * 32)
    first = hashlib.sha1(b"one").hexdigest()
    second = hashlib.sha1(b"two").hexdigest()
    report = f'{{"a": "{first}", "b": "{second}"}}'.encode()
    key.rekey("sha1", first)
    once = key.scrub_hashes(report)
    table = dict(key._hashes)
    assert first.encode() not in once and second.encode() in once
    key.rekey("sha1", first)                                   # again: same digest
    assert key.scrub_hashes(report) == once and key._hashes == table
    key.rekey("sha1", second)                                  # a new hash
    twice = key.scrub_hashes(report)
    assert second.encode() not in twice and key.rekey("sha1", second).encode() in twice
    as_sha1 = key.digest(f"sha1:{first}")
    assert as_sha1.encode() in twice
    other = key.rekey("md5", first)                            # same text, other algorithm
    thrice = key.scrub_hashes(report)
    assert other.encode() in thrice and as_sha1.encode() not in thrice


def _scrub_hashes_by_sub(key: FingerprintKey, data: bytes) -> bytes:
    """scrub_hashes as it was: one `re.sub` whose callback looks each hex run up whole, then
    part by part (the reference the streamed version must equal byte for byte)."""
    import re

    table = dict(key._hashes)   # plain hash -> keyed digest, as ASCII bytes
    if not table:
        return data

    def swap(match: re.Match[bytes]) -> bytes:
        token = match.group(0)
        found = table.get(token.lower())
        if found is not None:
            return found
        if b"-" not in token:
            return token
        return b"-".join(table.get(part.lower(), part) for part in token.split(b"-"))

    return re.compile(rb"[0-9A-Fa-f]{8,}(?:-[0-9A-Fa-f]{4,})*").sub(swap, data)


_HEXISH = st.text(alphabet="0123456789abcdefABCDEF-", min_size=0, max_size=60)


@settings(max_examples=300, deadline=None)
@given(hashes=st.lists(st.text(alphabet="0123456789abcdefABCDEF", min_size=8, max_size=40),
                       max_size=6),
       pieces=st.lists(st.one_of(_HEXISH, st.text(max_size=12), st.sampled_from(
           ["-", "--", "é", " ", "\n"])), max_size=30),
       picks=st.lists(st.integers(min_value=0, max_value=100), max_size=10))
def test_streamed_hash_scrub_equals_one_re_sub(hashes, pieces, picks) -> None:
    """The hash scrub writes into one buffer and returns unchanged data as it is: the bytes
    are exactly the former `re.sub`'s, with hashes of any case, dash-joined runs, hashes
    next to other hex digits, and data holding none."""
    key = FingerprintKey(b"h" * 32)
    for h in hashes:
        key.rekey("sha1", h)
    parts = list(pieces)
    for i, pick in enumerate(picks):
        if hashes:
            h = hashes[pick % len(hashes)]
            parts.insert(pick % (len(parts) + 1), h.upper() if i % 2 else h)
    data = "".join(parts).encode()
    assert key.scrub_hashes(data) == _scrub_hashes_by_sub(key, data)


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(st.one_of(_HEXISH, st.text(max_size=12), st.sampled_from(
           ["-", "--", "é", " ", "\n", "deadbeef", "0123456789abcdef-ABCD"])), max_size=40),
       window=st.integers(min_value=1, max_value=64), step=st.integers(min_value=1, max_value=9))
def test_hex_runs_are_the_pattern_s_matches_in_any_window(pieces, window, step) -> None:
    """`hex_runs` (a translated copy searched for a literal, window by window) gives exactly
    the spans of `_HEX_RUN.finditer` over the whole data, wherever the windows end; and the
    hash scrub built on it the former `re.sub`'s bytes."""
    from secpipe.model import secret

    data = "".join(pieces).encode()
    key = FingerprintKey(b"w" * 32)
    for m in secret._HEX_RUN.finditer(data):
        key.rekey("sha1", m.group(0).split(b"-")[0].decode())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(secret, "HEX_WINDOW", window)
        mp.setattr(secret, "_CUT_STEP", step)
        assert list(secret.hex_runs(data)) == [m.span() for m in secret._HEX_RUN.finditer(data)]
        assert key.scrub_hashes(data) == _scrub_hashes_by_sub(key, data)


def test_released_tables_are_rebuilt_when_scrubbing_again() -> None:
    """A run drops the scrub tables once its reports are scrubbed (memory for the outputs);
    a later scrub of either kind rebuilds them and gives the same bytes."""
    import hashlib

    from secpipe.model import SecretCollector

    key = FingerprintKey(b"r" * 32)
    digest = hashlib.sha1(b"x").hexdigest()
    key.rekey("sha1", digest)
    report = f'{{"h": "{digest}", "v": "hunter2-Summer2024"}}'.encode()
    collector = SecretCollector()
    collector.values = {"hunter2-Summer2024"}
    before = key.scrub_hashes(collector.scrub(report))
    collector.release()
    key.release()
    assert collector._cached is None
    assert key.scrub_hashes(collector.scrub(report)) == before
    assert digest.encode() not in before and b"hunter2-Summer2024" not in before


def test_forgotten_hashes_are_no_longer_scrubbed_and_are_recorded_afresh() -> None:
    """A run forgets its plain hashes once its reports are scrubbed of them (memory for the
    outputs); a hash recorded after that is scrubbed again, with the same keyed digest."""
    import hashlib

    key = FingerprintKey(b"f" * 32)
    digest = hashlib.sha1(b"y").hexdigest()
    keyed = key.rekey("sha1", digest)
    report = f'{{"h": "{digest}"}}'.encode()
    scrubbed = key.scrub_hashes(report)
    assert keyed.encode() in scrubbed
    key.forget_hashes()
    assert key.scrub_hashes(report) == report
    assert key.rekey("sha1", digest) == keyed and key.scrub_hashes(report) == scrubbed
