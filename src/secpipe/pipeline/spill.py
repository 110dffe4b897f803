"""The run's scrubbed raw reports kept on disk, not in memory, from their values' scrub to
`write_raw`.

Once every tool is done, each raw report is scrubbed of the run's clear values; it was then
held in memory through the last stage's judging, the run's correlation and the hashes' pass,
until `write_raw` (27 MB at 50,000 findings, at the run's peak). Scrubbed, it holds no clear
value, so it goes to a scratch folder of its own instead and is read back one report at a
time: by the hashes' pass, which rewrites it (window by window: `hashstream`), and by
`write_raw`, which copies it into raw/. The values' scrub writes it as it scrubs
(`put_scrubbed`), so its scrubbed copy is never whole in memory beside the report in clear.

The folder is made like the run's scratch folder (:mod:`secpipe.pipeline.scratch`: 0700,
locked, named by the pid, so a killed run's folder is removed by the next run). It lives as
long as a report spilled into it is referred to: `run_plan` returns the reports to its caller,
which writes them and drops them, and the folder goes with the last of them (or at the
interpreter's exit, whichever comes first).
"""

from __future__ import annotations

import os
import shutil
import weakref
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from secpipe.pipeline.hashstream import WINDOW, scrub_file
from secpipe.pipeline.scratch import new_scratch


class Spill:
    """A scratch folder for scrubbed reports, removed when the last report in it is dropped."""

    __slots__ = ("path", "_count", "_removed", "__weakref__")

    def __init__(self) -> None:
        self.path, release = new_scratch()
        self._count = 0
        self._removed = weakref.finalize(self, release)

    def put(self, name: str, data: bytes) -> "SpilledReport":
        """`data` (already scrubbed of every clear value) written to a new file."""
        report = self._new(name)
        report.rewrite(data)
        return report

    def put_scrubbed(self, name: str, data: bytes,
                     scrub: Callable[[bytes, BinaryIO], object]) -> "SpilledReport":
        """`data` scrubbed of every clear value into a new file by `scrub(data, file)`, which
        writes it as it goes (`scrubonce.scrub_values_into`): the scrubbed copy is never
        whole in memory beside `data`."""
        report = self._new(name)
        report.write_scrubbed(data, scrub)
        return report

    def _new(self, name: str) -> "SpilledReport":
        self._count += 1
        return SpilledReport(name, self.path / f"report-{self._count}", self)

    def remove(self) -> None:
        """Remove the folder now (what dropping its last report would do)."""
        self._removed()


class SpilledReport:
    """A raw report on disk: `name` as a RawReport's, `data` read back at each access."""

    __slots__ = ("name", "path", "_spill")

    def __init__(self, name: str, path: Path, spill: Spill) -> None:
        self.name = name
        self.path = path
        self._spill = spill   # the folder stays while this report is referred to

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    def chunks(self) -> Iterator[bytes]:
        """The report's bytes read back a window at a time (`hashstream.WINDOW`)."""
        with open(self.path, "rb") as src:
            while block := src.read(WINDOW):
                yield block

    def rewrite(self, data: bytes) -> None:
        """Write the report's bytes (`Spill.put`)."""
        self.write_scrubbed(data, _written)

    def write_scrubbed(self, data: bytes, scrub: Callable[[bytes, BinaryIO], object]) -> None:
        """Write the report as `scrub(data, file)` writes it (`Spill.put_scrubbed`)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as out:
            scrub(data, out)

    def scrub_hashes(self, scrub: Callable[[bytes], bytes]) -> bool:
        """The hashes' pass (`scrub` is FingerprintKey.scrub_hashes) a window at a time, the
        report replaced only if it held a reported hash (`hashstream`); whether it did."""
        return scrub_file(self.path, scrub)

    def write_to(self, dest: Path) -> None:
        """Copy the report to `dest` (as `dest.write_bytes(self.data)`, without holding it)."""
        shutil.copyfile(self.path, dest)


def _written(data: bytes, out: BinaryIO) -> None:
    out.write(data)


__all__ = ["Spill", "SpilledReport"]
