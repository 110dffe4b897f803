"""Which tool starts first, and how many run at once.

A run lasts at least as long as its slowest tool, so the slowest tools start first: the history
secret scans (trufflehog3, git-secrets, detect-secrets) take minutes on a long history while
linters take a second. Started last, one of them would begin when the others are done and
the run would last their sum. The weights are rough costs seen on real repositories; only
their order matters. A history scanner told to read the working tree only (the default
pipeline's trufflehog3) costs what a tree scan does; checkov and detect-secrets read every file
of the tree and were the two longest tools on the bundled example and on a generated
2,000-commit, 3,000-file repository (bench/parallel_gain.py: 5-6 s each alone, git-secrets'
history scan 2 s), so they rank after trufflehog3's history scan only.

How many at once: the tools are processes, so one per core, plus one because part of every
tool's time is spent waiting on the disk; never more than the memory holds (a checkov or
trivy process takes a few hundred MB).
"""

from __future__ import annotations

import os
import threading
from typing import AbstractSet, Iterable, Mapping, TypeVar

# rough cost, highest first; unknown tools come after the known long ones
COST = {
    "trufflehog3": 100, "trufflehog": 100, "checkov": 95, "detect-secrets": 92,
    "gitleaks": 90, "git-secrets": 90, "dast": 75, "trivy": 60, "trivy-vuln": 60,
    "semgrep": 60, "build-image": 55, "deploy-local": 55, "deploy-helm": 55, "grype": 50,
    "sbom": 45, "osv-match": 20, "hadolint": 10,
}
UNKNOWN_COST = 40
# the history scanners, and what one costs when it reads the working tree only
HISTORY_SCANNERS = frozenset({"trufflehog3", "trufflehog", "gitleaks", "git-secrets"})
TREE_ONLY_COST = 40
MEMORY_PER_TOOL = 400 * 1024 * 1024
# how much lower the CPU priority of a tool started while every core already has one (nice):
# at 5 the kernel gives a normal tool about three times its share of a contended core
LOW_PRIORITY = 5

T = TypeVar("T")


def cost(tool: str, tree_only: bool = False) -> int:
    if tree_only and tool in HISTORY_SCANNERS:
        return TREE_ONLY_COST
    return COST.get(tool, UNKNOWN_COST)


def longest_first(items: Iterable[tuple[T, str]],
                  measured: Mapping[str, float] | None = None,
                  tree_only: AbstractSet[str] = frozenset()) -> list[tuple[T, str]]:
    """(anything, tool name) pairs, the costliest tool first; ties keep their order.

    `measured` (tool -> seconds it ran last time on this tree, secpipe.pipeline.durations)
    decides when it knows every tool of `items`: real figures beat the table's guesses.
    `tree_only`: the tools whose history is not scanned in this run."""
    items = list(items)
    if measured and items and all(tool in measured for _, tool in items):
        return sorted(items, key=lambda item: -measured[item[1]])
    return sorted(items, key=lambda item: -cost(item[1], item[1] in tree_only))


class Priorities:
    """At most one tool per core at the normal CPU priority; a tool that starts while every
    core already has one runs at a lower priority (LOW_PRIORITY).

    The queue starts the costliest tools first, so they take the normal slots: the run lasts
    as long as they do, and the short tools beside them, at an equal priority, took a share
    of their cores (on 2 cores checkov ran 9.5 s inside a run of the generated repository of
    bench/parallel_gain.py against about 5 s alone). At the lower priority the short tools
    use what the long ones leave (their disk waits, the cores they free when they end); a
    slot freed by a finished tool goes to the next tool that starts. The priority decides who
    waits for a core, never what a tool does.
    """

    def __init__(self, cores: int | None = None) -> None:
        self._free = cores if cores is not None else _cores()
        self._lock = threading.Lock()

    def take(self) -> int:
        """The nice increment for a tool starting now: 0 (a slot taken) or LOW_PRIORITY."""
        with self._lock:
            if self._free > 0:
                self._free -= 1
                return 0
            return LOW_PRIORITY

    def give_back(self, nice: int) -> None:
        """The tool that `take` gave `nice` has ended."""
        if nice == 0:
            with self._lock:
                self._free += 1


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 2


def default_jobs() -> int:
    """Tools at once when neither --jobs nor the config says: cores + 1, at least 2, at most
    what the available memory holds."""
    cores = _cores()
    jobs = max(2, cores + 1)
    available = _available_memory()
    if available is not None:
        jobs = min(jobs, max(2, available // MEMORY_PER_TOOL))
    return jobs


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


__all__ = ["COST", "LOW_PRIORITY", "Priorities", "cost", "default_jobs", "longest_first"]
