"""Run output writers: summary JSON, ASFF, SARIF, JUnit, HTML report, and the console screen.

Each writer is a pure ``render_*(run)`` plus a small ``write_*(run, run_dir)``, so tests and
other sinks (the hub, a CI upload) can take the text without touching the disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from secpipe.gcpause import paused
from secpipe.outputs.asff import render_asff, write_asff
from secpipe.outputs.console import render_console
from secpipe.outputs.html import render_html, write_html
from secpipe.outputs.junit import render_junit, write_junit
from secpipe.outputs.ocsf import render_ocsf, write_findings_files, write_ocsf  # noqa: F401
from secpipe.outputs.sarif import render_sarif, write_sarif
from secpipe.outputs.summary import render_summary, write_summary
from secpipe.pipeline.result import RunResult

if TYPE_CHECKING:
    from secpipe.outputs.ocsf import FindingsFiles

__all__ = [
    "render_asff", "render_console", "render_html", "render_junit", "render_sarif",
    "render_summary", "write_all", "write_asff", "write_html", "write_junit", "write_sarif",
    "write_summary",
]


WRITERS = {
    "summary": write_summary,
    "sarif": write_sarif,
    "junit": write_junit,
    "html": write_html,
}


def write_all(run: RunResult, run_dir: Path, *,
              findings_files: FindingsFiles | None = None) -> dict[str, Path]:
    """Write the six run files into `run_dir`; returns name -> path.

    One writer failing does not stop the others (a broken run is exactly when someone opens
    the report); the first failure is raised once all have been tried. `findings_files`: the
    ASFF and OCSF files already filled as the hub took the run's documents (`FindingsFiles`),
    completed here; otherwise both are written together in one pass.
    """
    run_dir = Path(run_dir)
    written: dict[str, Path] = {}
    failure: Exception | None = None
    with paused():   # the writers build documents without cycles (secpipe.gcpause)
        try:
            written["asff"], written["ocsf"] = (
                write_findings_files(run, run_dir) if findings_files is None
                else findings_files.finish())
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the other writers
            failure = exc
        for name, writer in WRITERS.items():
            try:
                written[name] = writer(run, run_dir)
            except Exception as exc:  # noqa: BLE001 - re-raised below, after the other writers
                failure = failure or exc
    if failure is not None:
        raise failure
    return written
