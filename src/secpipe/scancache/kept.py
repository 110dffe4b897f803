"""A tool's report scrubbed of its own values, kept on disk for the run's pass.

The scan cache scrubs a fresh tool's report of the tool's own values in its turn; the run's
pass at the end of the tools' turns reuses that result (`model.scrubonce`) instead of
scrubbing the report again. Held in memory, the copy lived through every other tool's parse:
12.6 MB for trufflehog3's report at 50,000 findings, at the plateau of the tools' turns. A
large one waits in a scratch folder instead (`pipeline.spill`: 0700, locked, removed with the
last report in it, or by the next run if this one is killed) and is read back once.

It holds none of its tool's values; another tool's value it may hold (in clear, as the tools'
own reports in the run's scratch folder hold it) is masked by the run's pass before the report
reaches raw/ or the scan cache (scrubonce reuses the copy only when no such value occurs). It
is never in the scan cache's folder, which receives only what the run's pass made
(`deferred.py`).
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from secpipe.model.scrubonce import Stored
    from secpipe.model.secret import SecretCollector
    from secpipe.pipeline.spill import Spill

#: scrubbed copies smaller than this stay in memory: writing them costs more than they hold
#: (trufflehog3's report at 5,000 findings is 1.4 MB)
SPILL_MIN = 1 << 22

_LOCK = threading.Lock()
# the folder of the copies still remembered, known weakly: it goes with the last of them
_FOLDER: list["weakref.ref[Spill]"] = []


def _folder() -> "Spill":
    """The scratch folder of the copies still remembered, made when there is none (under
    `_LOCK`: the turns run in threads)."""
    from secpipe.pipeline.spill import Spill

    folder = _FOLDER[0]() if _FOLDER else None
    if folder is None:
        folder = Spill()
        _FOLDER[:] = [weakref.ref(folder)]
    return folder


def kept(report: bytes, scrubbed: bytes) -> "bytes | Stored":
    """`scrubbed` itself, or when it is a large copy (not `report` itself) what reads it back
    from disk. A copy that cannot be written (a full disk) stays in memory, as it was."""
    if scrubbed is report or len(scrubbed) < SPILL_MIN:
        return scrubbed
    with _LOCK:
        try:
            return _folder().put("scan-cache-scrubbed", scrubbed)
        except OSError:
            return scrubbed


def kept_scrub(report: bytes, collector: "SecretCollector") -> "bytes | Stored":
    """`kept(report, collector.scrub(report))`, a large report scrubbed straight into its
    file (`SecretCollector.scrub_into`): its scrubbed copy never whole in memory beside it."""
    if len(report) < SPILL_MIN:
        return kept(report, collector.scrub(report))
    changed: list[object] = []
    with _LOCK:
        try:
            stored = _folder().put_scrubbed("scan-cache-scrubbed", report,
                                            lambda data, out: changed.append(
                                                collector.scrub_into(data, out)))
        except OSError:
            stored = None
    if stored is None:
        return kept(report, collector.scrub(report))
    if changed[0]:
        return stored
    stored.path.unlink(missing_ok=True)    # nothing masked: the report itself, no copy kept
    return report


__all__ = ["SPILL_MIN", "kept", "kept_scrub"]
