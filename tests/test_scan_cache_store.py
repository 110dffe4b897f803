"""The scan cache's pure parts: Finding round trip, units, scrub hints, clearing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from click.testing import CliRunner

from secpipe.cli import main
from secpipe.model import Category, Finding, Location, Resource, Secret, SecretCollector, Severity
from secpipe.model.finding import Vulnerability
from secpipe.scancache import hints, hintscan, store, units


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_a_finding_survives_the_trip_exactly() -> None:
    f = Finding(tool="t", rule_id="r", title="x", severity=Severity.HIGH, description="d",
                category=Category.SECRET, severity_original="H",
                location=Location("a/b.py", 3, 4, "snip"),
                resource=Resource("Other", "id", {"k": "v"}), remediation="fix",
                remediation_url="https://example.invalid", references=("ref",), cwe=("CWE-1",),
                vulnerabilities=(Vulnerability("CVE-1", "p", "1", "2", ("GHSA-1",), 7.5, "AV",
                                               ("u",)),),
                secret=Secret("abc", "AK…"), location_key="k", confidence=3,
                properties={"commit": "c"}, types=("T/a/b",), issue_key="i", related=("x",))
    assert store.finding_from_json(store.finding_to_json(f)) == f
    plain = Finding(tool="t", rule_id="r", title="x", severity=Severity.LOW)
    assert store.finding_from_json(store.finding_to_json(plain)) == plain


def test_units_follow_directories_and_charts() -> None:
    files = {"a/main.tf": "1", "a/vars.tf": "2", "a/b/x.tf": "3", "chart/Chart.yaml": "4",
             "chart/values.yaml": "5", "chart/templates/d.yaml": "6"}
    by_dir = units.units(files, "dir")
    assert set(by_dir) == {"a", "a/b", "chart"}
    changed = units.units({**files, "chart/values.yaml": "5b"}, "dir")
    assert [u for u in by_dir if by_dir[u] != changed[u]] == ["chart"]  # values are the chart's
    assert units.units(files, "file") == files


def test_hints_recover_a_cached_tools_value_from_a_fresh_report() -> None:
    value = "AKIAZ7QW3ERT5YUI8OPA"
    hinted = hints.make_hints({value, "short"}, _sha)
    assert hinted == [["AKIA", "8OPA", 20, _sha(value)]]  # what the mask shows, never more
    collector = SecretCollector()
    hints.add_texts(collector, [b'{"code": "key = AKIAZ7QW3ERT5YUI8OPA; AKIAother"}'], _sha)
    assert collector.values == set()
    hints.add_hints(collector, hinted, _sha)  # served after the fresh tool wrote its report
    assert value in collector.values
    later = SecretCollector()
    hints.add_hints(later, hinted, _sha)
    hints.add_texts(later, [b"AKIAZ7QW3ERT5YUI8OPX and AKIAZ7QW3ERT5YUI8OPA"], _sha)
    assert later.values == {value}
    assert value not in later.scrub_text("x AKIAZ7QW3ERT5YUI8OPA y")


def test_cache_clear_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path / "c"))
    store.write_entry("hadolint", "ab" * 32, {"findings": []})
    assert store.read_entry("hadolint", "ab" * 32) == {"schema": store.SCHEMA, "findings": []}
    result = CliRunner().invoke(main, ["cache", "clear"])
    assert result.exit_code == 0 and "removed 1 cache entries" in result.output
    assert store.read_entry("hadolint", "ab" * 32) is None
    assert CliRunner().invoke(main, ["cache", "where"]).output.strip() == str(tmp_path / "c")


def test_an_unwritable_cache_is_noted_not_raised(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(blocker / "cache"))
    store.write_failures()
    store.write_entry("hadolint", "cd" * 32, {"findings": []})
    (message,) = store.write_failures()
    assert "file" in message and store.write_failures() == []


def test_hints_are_found_in_one_pass_however_many_and_wherever_they_overlap() -> None:
    values = [f"AKIA{i:04d}ZZZZYYYYXXXX" for i in range(300)] + ["AKIAKIA0000ZZZZYYYYXXXX"]
    hinted = hints.make_hints(values, _sha)
    collector = SecretCollector()
    hints.add_hints(collector, hinted, _sha)
    # overlapping prefixes ("AKIAKIA...": a prefix inside a prefix), a near miss of the right
    # prefix, suffix and length, and a value at the very end of the text
    text = "x AKIAKIA0000ZZZZYYYYXXXX AKIA0001ZZZZYYYYQXXX \u00e9 AKIA0299ZZZZYYYYXXXX"
    hints.add_texts(collector, [text.encode()], _sha)
    # "AKIA0000..." starts inside "AKIAKIA0000...": both are there
    assert collector.values == {"AKIAKIA0000ZZZZYYYYXXXX", "AKIA0000ZZZZYYYYXXXX",
                                "AKIA0299ZZZZYYYYXXXX"}
    assert hintscan._trie([]) == "(?!)"


def test_checkov_reads_no_source_file_whatever_its_frameworks_setting(tmp_path: Path) -> None:
    (tmp_path / "build").write_text("# syntax=docker/dockerfile:1\nFROM python:3.12\n")
    for frameworks in ("auto", ["auto"], ["terraform", "secrets"], None):
        opts = {} if frameworks is None else {"frameworks": frameworks}
        assert not units.relevant("checkov", opts, "app/mod.py", False, tmp_path)
        assert units.relevant("checkov", opts, "infra/main.tf", False, tmp_path)
        assert units.relevant("checkov", opts, "chart/templates/x.txt", True, tmp_path)
        assert units.relevant("checkov", opts, "build", False, tmp_path)  # a Dockerfile by content
        assert units.relevant("checkov", {**opts, "secrets_all_files": True}, "a.py", False)
    assert units.relevant("checkov", {"frameworks": ["sca_image"]}, "app/mod.py", False)
    assert units.relevant("hadolint", {}, "build", False, tmp_path)
    assert not units.relevant("hadolint", {}, "app/mod.py", False, tmp_path)
    assert units.relevant("detect-secrets", {}, "app/mod.py", False, tmp_path)


def test_the_manifest_reuses_digests_only_of_files_whose_stat_is_unchanged(
        tmp_path: Path, monkeypatch) -> None:
    import os
    import time

    monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path / "c"))
    tree = tmp_path / "t"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "a.py").write_text("a = 1\n")
    (tree / "b.tf").write_text("b\n")
    time.sleep(2.1)  # older than the racy window: their digests may be reused
    first = units.manifest(tree, ())
    assert first == {"d/a.py": _sha("a = 1\n"), "b.tf": _sha("b\n")}
    key = store.digest(["manifest-stat", str(tree.resolve()), []])
    taken = store.read_entry("manifest", key)["taken_ns"]
    assert units.manifest(tree, ()) == first
    assert store.read_entry("manifest", key)["taken_ns"] == taken  # nothing read, not rewritten
    # same size, modification time put back: the change time still says it changed
    st = os.stat(tree / "d" / "a.py")
    (tree / "d" / "a.py").write_text("a = 2\n")
    os.utime(tree / "d" / "a.py", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert units.manifest(tree, ())["d/a.py"] == _sha("a = 2\n")
    (tree / "b.tf").unlink()
    assert units.manifest(tree, ()) == {"d/a.py": _sha("a = 2\n")}


def test_hints_forget_the_tools_texts_once_every_tool_has_run() -> None:
    value = "AKIAZ7QW3ERT5YUI8OPA"
    collector = SecretCollector()
    report = b'{"code": "key = AKIAZ7QW3ERT5YUI8OPA"}'
    hints.add_texts(collector, [report], _sha)
    assert hints._STATES[collector].texts == [report]     # the report itself, not a copy
    hints.forget(collector)
    assert collector not in hints._STATES
    hints.add_hints(collector, hints.make_hints({value}, _sha), _sha)
    assert collector.values == set()                      # nothing left to search


def _stat(dev: int, mtime_ns: int, ctime_ns: int) -> os.stat_result:
    # mode, ino, dev, nlink, uid, gid, size, the three int times; the three float times;
    # atime_ns, mtime_ns, ctime_ns
    return os.stat_result((0o100644, 1, dev, 1, 0, 0, 10, 0, 0, 0, 0.0, 0.0, 0.0,
                           0, mtime_ns, ctime_ns))


def test_the_racy_window_follows_each_devices_time_granularity() -> None:
    lag, cap = units._CLOCK_LAG_NS, units._RACY_MAX_NS
    fine = [_stat(1, 1_700_000_000_123_456_789 + 7919 * i, 1_700_000_000_987_654_321 + 104_729 * i)
            for i in range(50)]
    whole_seconds = [_stat(2, (1_700_000_000 + 3 * i) * 10**9, (1_700_000_001 + 5 * i) * 10**9)
                     for i in range(50)]
    fat = [_stat(3, (1_700_000_000 + 2 * i) * 10**9, (1_700_000_000 + 4 * i) * 10**9)
           for i in range(50)]
    lone = [_stat(4, 1_700_000_000_123_456_000, 1_700_000_000_123_456_000)]
    zero = [_stat(5, 0, 0)]
    windows = units.racy_windows([*fine, *whole_seconds, *fat, *lone, *zero])
    assert windows[1] == 1 + lag                # nanosecond times: the clock's lag is the window
    assert windows[2] == 10**9 + lag            # whole seconds
    assert windows[3] == cap + lag              # FAT's 2 s
    assert windows[4] == cap + lag              # one file proves nothing: the cap
    assert windows[5] == cap + lag


def test_a_file_written_just_before_a_manifest_is_reused_after_the_window(
        tmp_path: Path, monkeypatch) -> None:
    """On a filesystem with fine times the next manifest trusts what a manifest read 0.3 s after
    the write (the flat 2 s window read the whole tree again), and still reads a file changed
    after it, even with its modification time put back."""
    import time

    monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path / "c"))
    tree = tmp_path / "t"
    tree.mkdir()
    for i in range(20):
        (tree / f"f{i}.py").write_text(f"v = {i}\n")
    window = max(units.racy_windows(os.stat(p) for p in tree.iterdir()).values())
    if window > 300_000_000:
        pytest.skip(f"this filesystem's times are coarse (racy window {window / 1e9:.1f} s)")
    time.sleep(window / 1e9 + 0.05)
    first = units.manifest(tree, ())
    key = store.digest(["manifest-stat", str(tree.resolve()), []])
    taken = store.read_entry("manifest", key)["taken_ns"]
    assert units.manifest(tree, ()) == first
    assert store.read_entry("manifest", key)["taken_ns"] == taken   # nothing read again
    st = os.stat(tree / "f3.py")
    (tree / "f3.py").write_text("v = 9\n")
    os.utime(tree / "f3.py", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert units.manifest(tree, ())["f3.py"] == _sha("v = 9\n")
