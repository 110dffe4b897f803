"""The hashes' pass over a spilled report, a window at a time (pipeline.hashstream), gives the
bytes of FingerprintKey.scrub_hashes over the whole report, whatever the windows' size.

Reports are drawn from hex digits, dashes and a few other bytes (hex runs and uuids across
every window boundary), with reported hashes among them in either case; windows of a few
bytes put boundaries inside runs, on dashes and right after them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hypothesis import given, settings, strategies as st

from secpipe.model import FingerprintKey
from secpipe.pipeline.hashstream import scrub_file

HASHES = ["0123456789abcdef0123456789abcdef01234567", "deadbeefcafebabe",
          "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4"]


def _key() -> FingerprintKey:
    key = FingerprintKey(b"k" * 32)
    for h in HASHES:
        key.rekey("sha1", h)
    return key


KEY = _key()

pieces = st.one_of(
    st.sampled_from([h.encode() for h in HASHES] + [h.upper().encode() for h in HASHES]),
    st.text(alphabet="0123456789abcdefABCDEF-", max_size=24).map(str.encode),
    st.sampled_from([b" ", b"\n", b'"', b"-", b"g", b"\xff", b"--"]),
)
reports = st.lists(pieces, max_size=40).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(data=reports, window=st.integers(min_value=1, max_value=40))
def test_windows_give_the_whole_reports_scrub(tmp_path_factory, data: bytes,
                                              window: int) -> None:
    path = tmp_path_factory.mktemp("hs") / "report"
    path.write_bytes(data)
    whole = KEY.scrub_hashes(data)
    changed = scrub_file(path, KEY.scrub_hashes, window=window)
    assert path.read_bytes() == whole
    assert changed == (whole != data)
    assert [p.name for p in path.parent.iterdir()] == ["report"]   # no scrubbed copy left


def test_a_report_with_no_reported_hash_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "report"
    path.write_bytes(b'{"id": "0123456789abcdef0123"}\n' * 1000)
    before = os.stat(path)
    assert not scrub_file(path, KEY.scrub_hashes, window=64)
    assert os.stat(path).st_ino == before.st_ino and path.read_bytes().count(b"\n") == 1000


def test_a_rewritten_report_is_the_runs_alone(tmp_path: Path) -> None:
    path = tmp_path / "report"
    path.write_bytes((HASHES[0] + "\n").encode() * 100)
    path.chmod(0o600)
    assert scrub_file(path, KEY.scrub_hashes, window=7)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert HASHES[0].encode() not in path.read_bytes()


def test_a_failing_scrub_leaves_the_report_and_no_copy(tmp_path: Path) -> None:
    path = tmp_path / "report"
    data = (HASHES[0] + " x ").encode() * 50
    path.write_bytes(data)
    calls = []

    def failing(piece: bytes) -> bytes:
        calls.append(piece)
        if len(calls) > 2:
            raise RuntimeError("disk full")
        return KEY.scrub_hashes(piece)

    try:
        scrub_file(path, failing, window=30)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the scrub's error was swallowed")
    assert path.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
