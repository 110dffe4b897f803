"""The scan cache's scrubbed copy kept on disk, and the values' automaton not kept, give the
same run.

`scancache/kept.py` writes a large scrubbed copy to a scratch folder for the run's pass
(`model.scrubonce`) instead of holding it through the other tools' turns, and
`secret.KEEP_MAX_VALUES` builds a large automaton again for that pass instead of keeping it.
Both are forced here on a small run (thresholds 0) and compared with both off: raw/, logs/,
the findings and summary.json are the same, on the first run (the copies taken back) and on
the second (the cache entries read back the same), and nothing is left in the folder.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from secpipe.model import scrubonce, secret
from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.scancache import kept
from tests.pipeline.test_scrub_early import VALUES, _outputs, project


def _runs(repo: Path, out: Path) -> list[dict[str, str]]:
    got = []
    for n in (1, 2):   # a fresh scan, then every tool served from the cache
        result = run_pipeline(RunRequest(root=repo, out_dir=out / str(n), use_hub=False))
        assert [len(s.findings) for s in result.stages] == [len(VALUES) + 2, 5]
        got.append(_outputs(Path(result.run_dir)))
    return got


def test_a_copy_on_disk_and_an_automaton_built_again_give_the_same_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = project(tmp_path, monkeypatch)
    monkeypatch.delenv("SECPIPE_NO_CACHE", raising=False)
    stored: list = []
    keep, keep_scrub = kept.kept, kept.kept_scrub

    def spying(report: bytes, scrubbed: bytes):
        stored.append(keep(report, scrubbed))
        return stored[-1]

    def spying_scrub(report: bytes, collector):
        stored.append(keep_scrub(report, collector))
        return stored[-1]

    monkeypatch.setattr(kept, "kept", spying)
    monkeypatch.setattr(kept, "kept_scrub", spying_scrub)
    got = {}
    for on_disk in (False, True):
        monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path / f"cache-{on_disk}"))
        monkeypatch.setattr(kept, "SPILL_MIN", 0 if on_disk else 1 << 40)
        monkeypatch.setattr(secret, "KEEP_MAX_VALUES", -1 if on_disk else 1 << 40)
        got[on_disk] = _runs(repo, tmp_path / f"out-{on_disk}")
    assert got[True] == got[False]
    assert got[True][0]["raw/secrets/trufflehog3.json"] == got[True][1][
        "raw/secrets/trufflehog3.json"]
    on_disk = [s for s in stored if not isinstance(s, bytes)]
    assert on_disk and all(s.path.parent.name.startswith("secpipe-") for s in on_disk)
    folders = {s.path.parent for s in on_disk}
    del stored[:], on_disk
    gc.collect()
    assert not any(folder.exists() for folder in folders)   # taken, then removed


def test_a_copy_on_disk_is_taken_once_and_a_lost_one_is_scrubbed_afresh(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kept, "SPILL_MIN", 0)
    own = _collector(["AKIAIOSFODNN7EXAMPLE", "hunter2hunter2"])
    report = b'{"secret": "AKIAIOSFODNN7EXAMPLE", "ctx": "pw=hunter2hunter2"}'
    data, lost = bytes(bytearray(report)), bytes(bytearray(report))
    for one in (data, lost):
        copy = kept.kept(one, own.scrub(one))
        assert not isinstance(copy, bytes) and copy.data == own.scrub(report)
        scrubonce.remember(one, own.values, copy)
        if one is lost:
            copy.path.unlink()   # the scratch folder emptied under the run
    assert scrubonce.scrub_values(own, data) == own.scrub(report)
    assert scrubonce.scrub_values(own, lost) == own.scrub(report)
    assert kept.kept(data, data) is data   # no copy: nothing written
    scrubonce.forget()


def _collector(values: list[str]) -> secret.SecretCollector:
    collector = secret.SecretCollector()
    for value in values:
        collector.add(value)
    return collector
