"""Which tool starts first, and how many run at once.

A run lasts at least as long as its slowest tool, so the slowest tools start first: the history
secret scans (trufflehog3, git-secrets, detect-secrets) take minutes on a long history while
linters take a second. Started last, one of them would begin when the others are done and
the run would last their sum. The weights are rough costs seen on real repositories; only
their order matters.

How many at once: the tools are processes, so one per core, plus one because part of every
tool's time is spent waiting on the disk; never more than the memory holds (a checkov or
trivy process takes a few hundred MB).
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping, TypeVar

# rough cost, highest first; unknown tools come after the known long ones
COST = {
    "trufflehog3": 100, "trufflehog": 100, "gitleaks": 90, "git-secrets": 90,
    "detect-secrets": 80, "dast": 75, "checkov": 70, "trivy": 60, "trivy-vuln": 60,
    "semgrep": 60, "build-image": 55, "deploy-local": 55, "deploy-helm": 55, "grype": 50,
    "sbom": 45, "osv-match": 20, "hadolint": 10,
}
UNKNOWN_COST = 40
MEMORY_PER_TOOL = 400 * 1024 * 1024

T = TypeVar("T")


def cost(tool: str) -> int:
    return COST.get(tool, UNKNOWN_COST)


def longest_first(items: Iterable[tuple[T, str]],
                  measured: Mapping[str, float] | None = None) -> list[tuple[T, str]]:
    """(anything, tool name) pairs, the costliest tool first; ties keep their order.

    `measured` (tool -> seconds it ran last time on this tree, secpipe.pipeline.durations)
    decides when it knows every tool of `items`: real figures beat the table's guesses."""
    items = list(items)
    if measured and items and all(tool in measured for _, tool in items):
        return sorted(items, key=lambda item: -measured[item[1]])
    return sorted(items, key=lambda item: -cost(item[1]))


def default_jobs() -> int:
    """Tools at once when neither --jobs nor the config says: cores + 1, at least 2, at most
    what the available memory holds."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 2
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


__all__ = ["COST", "cost", "default_jobs", "longest_first"]
