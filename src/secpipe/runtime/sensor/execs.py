"""What an exec ran: /proc's reading checked against fanotify's exec opens.

/proc is read after the proc connector reports an exec, so the reading can be late: the
process may be gone (a zombie keeps its name, a reaped one nothing), or it may already have
exec'd again (`bash -c id` replaces itself with id within a millisecond) so that /proc, or
part of it, describes the NEXT program. fanotify's FAN_OPEN_EXEC events, in order per
process, say what each exec opened: the binary (a script, then its interpreter), then the ELF
interpreter. `reconcile` consumes one exec's worth of them and corrects the reading; the
arguments of a program that is already gone are lost, but its name and path never name the
wrong program.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import replace
from typing import Sequence

from secpipe.runtime.sensor.procfs import ProcInfo


def comm(path: str) -> str:
    """The kernel's name for a program run from `path` (15 characters at most)."""
    return os.path.basename(path)[:15]


def is_interpreter(path: str) -> bool:
    """The ELF interpreter every dynamic binary's exec also opens."""
    return os.path.basename(path).startswith(("ld-linux", "ld-musl", "ld.so", "ld64.so"))


def settled(info: ProcInfo, paths: Sequence[str]) -> bool:
    """Enough exec opens to judge this exec without waiting for fanotify's queue to empty:
    its binary is there and the name /proc gave agrees with it. A different name may be a
    symlink (sh -> dash) or a read torn across the next exec, which only the next exec's
    open can tell apart."""
    if not info.exepath:
        return bool(paths) and info.name in ("", comm(paths[0]))
    return info.exepath in paths and info.name == comm(info.exepath)


def _pop_own(paths: deque[str], last: str | None = None) -> str:
    """Remove one exec's opens (up to `last`, or its first binary) and its ELF interpreter;
    returns the first path removed."""
    first = paths.popleft()
    if last is not None and first != last:
        while paths and paths.popleft() != last:
            pass
    while paths and is_interpreter(paths[0]):
        paths.popleft()
    return first


def reconcile(info: ProcInfo, paths: deque[str] | None) -> ProcInfo:
    """This exec's process as it really was; consumes this exec's opens from `paths`."""
    while paths and len(paths) > 1 and is_interpreter(paths[0]):
        paths.popleft()                                    # the tail of an earlier exec
    if not paths:
        return info
    if info.exepath:
        if info.exepath not in paths:
            return info                                    # nothing to check against
        if paths[0] == info.exepath or info.name == comm(paths[0]):
            first = _pop_own(paths, info.exepath)          # a script: the script, its shell
            if info.name != comm(first) and any(comm(p) == info.name for p in paths):
                # torn: name and arguments were read after the next exec
                return replace(info, exepath=first, exe=first, args=(), name=comm(first),
                               partial=True)
            return info
        binary = _pop_own(paths)                           # /proc shows a later exec
        return replace(info, exepath=binary, exe=binary, args=(), name=comm(binary),
                       partial=True)
    binary = _pop_own(paths)                               # gone before /proc was read
    if not info.name or (info.name != comm(binary) and any(comm(p) == info.name
                                                            for p in paths)):
        return replace(info, exepath=binary, exe=binary, args=(), name=comm(binary),
                       partial=True)
    return replace(info, exepath=binary, exe=info.exe or binary, partial=True)
