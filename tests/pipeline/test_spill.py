"""The scrubbed raw reports spilled to disk (pipeline.spill) hold no clear value, give the same
raw/ as reports held in memory, and leave no folder behind.

The reports go to their scratch folder once the values' scrub is done with each: every file
written there is read as it is written, and must hold neither a clear value nor (after the
hashes' pass) a SHA-1 a tool reported in place of one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from secpipe.pipeline import runner, spill
from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.scratch import PREFIX
from tests.pipeline.test_scrub_early import VALUES, _outputs, project


def _spill_folders() -> set[Path]:
    """This process's scratch folders (other processes' runs may come and go meanwhile)."""
    import os
    import tempfile

    return {p for p in Path(tempfile.gettempdir()).glob(f"{PREFIX}{os.getpid()}-*")
            if p.is_dir()}


def test_spilled_reports_hold_no_clear_value(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    repo = project(tmp_path, monkeypatch)
    written: list[tuple[Path, bytes]] = []
    write = spill.SpilledReport.write_scrubbed   # what `put` and `put_scrubbed` write with

    def recorded(self: spill.SpilledReport, data: bytes, scrub) -> None:
        write(self, data, scrub)
        written.append((self.path, self.path.read_bytes()))   # what is on disk, as written

    monkeypatch.setattr(spill.SpilledReport, "write_scrubbed", recorded)
    scrub_hashes = spill.SpilledReport.scrub_hashes

    def recorded_pass(self: spill.SpilledReport, scrub) -> bool:   # the hashes' pass
        changed = scrub_hashes(self, scrub)
        if changed:
            written.append((self.path, self.path.read_bytes()))
        return changed

    monkeypatch.setattr(spill.SpilledReport, "scrub_hashes", recorded_pass)
    before = _spill_folders()
    result = run_pipeline(RunRequest(root=repo, out_dir=tmp_path / "out", use_hub=False))
    assert [len(s.findings) for s in result.stages] == [len(VALUES) + 2, 5]
    assert len({path for path, _ in written}) == 3   # every report of the run spilled
    sha1 = hashlib.sha1(VALUES[0].encode()).hexdigest().encode()
    for path, data in written:
        for value in VALUES:
            assert value.encode() not in data, path
    finals = {path: data for path, data in written}   # each file's last writing
    assert not any(sha1 in data for data in finals.values())
    # the spill's folder went with the reports, once they were written to raw/
    assert _spill_folders() - before == set()
    raw = Path(result.run_dir) / "raw"
    assert sorted(p.read_bytes() for p in raw.rglob("*") if p.is_file()) == sorted(
        finals.values())


def test_spilling_gives_the_raw_reports_held_in_memory(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    repo = project(tmp_path, monkeypatch)
    result = run_pipeline(RunRequest(root=repo, out_dir=tmp_path / "spilled", use_hub=False))
    spilled = _outputs(Path(result.run_dir))

    class NoSpill:   # the values' scrub keeps each report in memory, as before spilling
        def __new__(cls) -> None:   # type: ignore[misc]
            return None

    monkeypatch.setattr(runner, "Spill", NoSpill)
    result = run_pipeline(RunRequest(root=repo, out_dir=tmp_path / "held", use_hub=False))
    assert _outputs(Path(result.run_dir)) == spilled
    assert any(name.startswith("raw/") for name in spilled)
