"""The watched process tree: the service's processes and every descendant, bounded.

Membership follows the proc connector: a fork by a member adds the child (with the parent's
image until it execs), an exec refreshes a member from /proc, an exit retires it. Retired
members stay a little while (a bounded LRU) so late file events and orphaned children still
resolve their process and ancestry. Ancestors above the roots (the deploy stage, the shell
that started it, init) are read once from /proc, so `proc.aname` goes all the way up as in
Falco.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterable

from secpipe.runtime.sensor.procfs import ProcInfo, children_of, snapshot

MAX_DEPTH = 32


class ProcessTree:
    def __init__(self, roots: Iterable[int], *, max_processes: int = 4096,
                 keep_exited: int = 1024,
                 read: Callable[[int], ProcInfo | None] = snapshot) -> None:
        self.roots = {int(r) for r in roots}
        self.max_processes = max_processes
        self.keep_exited = keep_exited
        self.read = read
        self.live: dict[int, ProcInfo] = {}
        self.exited: OrderedDict[int, ProcInfo] = OrderedDict()
        self.outside: OrderedDict[int, ProcInfo] = OrderedDict()   # ancestors of the roots
        self.refused = 0           # children not tracked because the tree was full

    def seed(self, scan: Callable[[set[int]], dict[int, int]] = children_of) -> list[int]:
        """Read the roots, their ancestors and their existing descendants; returns the roots
        that are not running (the caller decides whether that is fatal)."""
        missing = []
        for pid in sorted(self.roots):
            info = self.read(pid)
            if info is None:
                missing.append(pid)
                continue
            self.live[pid] = info
        for pid, ppid in sorted(scan(set(self.live)).items()):
            if len(self.live) >= self.max_processes:
                self.refused += 1
                continue
            info = self.read(pid)
            if info is not None:
                self.live[pid] = info
        for info in list(self.live.values()):
            self._remember_ancestors(info.ppid)
        return missing

    def _remember_ancestors(self, ppid: int) -> None:
        for _ in range(MAX_DEPTH):
            if ppid <= 0 or ppid in self.live or ppid in self.outside:
                return
            info = self.read(ppid)
            if info is None:
                return
            self.outside[ppid] = info
            while len(self.outside) > self.max_processes:
                self.outside.popitem(last=False)
            ppid = info.ppid

    # -- membership ---------------------------------------------------------------------------
    def tracked(self, pid: int) -> bool:
        return pid in self.live

    def known(self, pid: int) -> bool:
        """A member, live or recently exited (for late file events)."""
        return pid in self.live or pid in self.exited

    def info(self, pid: int) -> ProcInfo | None:
        return self.live.get(pid) or self.exited.get(pid) or self.outside.get(pid)

    def on_fork(self, parent: int, child: int) -> ProcInfo | None:
        """Track `child` when `parent` is a member; returns its provisional info."""
        base = self.live.get(parent)
        if base is None or child in self.live:
            return None
        if len(self.live) >= self.max_processes:
            self.refused += 1
            return None
        info = base.forked(child, parent)
        self.live[child] = info
        self.exited.pop(child, None)
        return info

    def on_exec(self, pid: int, fresh: ProcInfo | None) -> ProcInfo | None:
        """Refresh a member after its exec from what /proc gave (None: already reaped)."""
        old = self.live.get(pid)
        if old is None:
            return None
        if fresh is None:
            info = ProcInfo(pid=pid, ppid=old.ppid, uid=old.uid, gid=old.gid,
                            loginuid=old.loginuid, sid=old.sid, pgid=old.pgid, tty=old.tty,
                            cwd=old.cwd, partial=True)
        else:
            info = fresh
            if fresh.ppid != old.ppid and old.ppid in self.live and fresh.ppid not in self.live:
                info = _with(info, ppid=old.ppid)    # reparented already: keep the real parent
            if fresh.uid is None and old.uid is not None:
                # `status` vanished between the reads (a short process reaped at once): an exec
                # keeps the ids it had when forked, short of a setuid binary, which the partial
                # mark admits; an alert then names the user rather than none.
                info = _with(info, uid=old.uid,
                             gid=old.gid if fresh.gid is None else fresh.gid, partial=True)
        self.live[pid] = info
        return info

    def update(self, pid: int, **changes: object) -> None:
        if pid in self.live:
            self.live[pid] = _with(self.live[pid], **changes)

    def on_exit(self, pid: int) -> None:
        info = self.live.pop(pid, None)
        if info is None:
            return
        self.exited[pid] = info
        self.exited.move_to_end(pid)
        while len(self.exited) > self.keep_exited:
            self.exited.popitem(last=False)

    def ancestors(self, pid: int) -> list[ProcInfo]:
        """Parent first, up to init (or as far as anything is known)."""
        out: list[ProcInfo] = []
        seen = {pid}
        current = self.info(pid)
        for _ in range(MAX_DEPTH):
            if current is None or current.ppid <= 0 or current.ppid in seen:
                break
            seen.add(current.ppid)
            parent = self.info(current.ppid)
            if parent is None:
                parent = self.read(current.ppid)
                if parent is None:
                    break
                self.outside[parent.pid] = parent
                while len(self.outside) > self.max_processes:
                    self.outside.popitem(last=False)
            out.append(parent)
            current = parent
        return out


def _with(info: ProcInfo, **changes: object) -> ProcInfo:
    from dataclasses import replace

    return replace(info, **changes)  # type: ignore[arg-type]
