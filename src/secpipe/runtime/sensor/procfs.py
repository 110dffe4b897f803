"""What /proc says about a process, read the moment its exec is reported.

Short-lived processes are the point (`sh -c id` lives a few milliseconds), so every read is
tolerant: a zombie still has `stat` and `status` (name, parent, uids) but no `exe` or
`cmdline`, and a reaped process has nothing. The sensor fills the gaps from what it saw
earlier (fanotify's exec open gives the executable's path).
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass, field, replace
from functools import lru_cache

NO_LOGINUID = 4294967295


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int = 0
    name: str = ""                 # comm, as Falco's proc.name (15 chars at most)
    exe: str = ""                  # argv[0], as Falco's proc.exe
    exepath: str = ""              # the executable's full path, as Falco's proc.exepath
    args: tuple[str, ...] = ()     # argv[1:]
    cwd: str = ""
    uid: int | None = None         # effective ids, as Falco's user.uid / group.gid
    gid: int | None = None
    loginuid: int | None = None
    sid: int = 0
    pgid: int = 0
    tty: int = 0
    start: int = 0                 # start time in clock ticks since boot (pid reuse check)
    partial: bool = False          # some of it could not be read (the process was gone)
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def cmdline(self) -> str:
        """Falco's proc.cmdline: the name and the arguments."""
        return " ".join((self.name, *self.args)) if self.args else self.name

    def forked(self, pid: int, ppid: int) -> "ProcInfo":
        """A child right after fork: the parent's image until it execs."""
        return replace(self, pid=pid, ppid=ppid, start=0)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _link(path: str) -> str:
    try:
        target = os.readlink(path)
    except OSError:
        return ""
    return target[:-len(" (deleted)")] if target.endswith(" (deleted)") else target


def parse_stat(data: bytes) -> dict[str, int | str]:
    """The fields of /proc/<pid>/stat the sensor uses (comm may hold spaces and parens)."""
    text = data.decode("utf-8", "replace")
    open_, close = text.find("("), text.rfind(")")
    if open_ < 0 or close < open_:
        return {}
    rest = text[close + 2:].split()
    if len(rest) < 20:
        return {}
    return {"name": text[open_ + 1:close], "ppid": int(rest[1]), "pgid": int(rest[2]),
            "sid": int(rest[3]), "tty": int(rest[4]), "start": int(rest[19])}


def _ids(status: bytes, key: bytes) -> int | None:
    for line in status.splitlines():
        if line.startswith(key):
            parts = line.split()
            if len(parts) >= 3:
                return int(parts[2])          # real, EFFECTIVE, saved, fs
    return None


def snapshot(pid: int, proc: str = "/proc") -> ProcInfo | None:
    """Everything readable about `pid` now; None once it is reaped."""
    base = f"{proc}/{pid}"
    cmdline = _read(f"{base}/cmdline") or b""     # first: a zombie has none
    exepath = _link(f"{base}/exe")                # nor this
    stat = _read(f"{base}/stat")
    if stat is None:
        return None
    fields = parse_stat(stat)
    if not fields:
        return None
    status = _read(f"{base}/status") or b""
    argv = [a.decode("utf-8", "replace") for a in cmdline.split(b"\0")]
    if argv and argv[-1] == "":
        argv.pop()
    loginuid_raw = (_read(f"{base}/loginuid") or b"").strip()
    loginuid = int(loginuid_raw) if loginuid_raw.isdigit() else None
    return ProcInfo(
        pid=pid, ppid=int(fields["ppid"]), name=str(fields["name"]),
        exe=argv[0] if argv else "", exepath=exepath, args=tuple(argv[1:]),
        cwd=_link(f"{base}/cwd"), uid=_ids(status, b"Uid:"), gid=_ids(status, b"Gid:"),
        loginuid=None if loginuid == NO_LOGINUID else loginuid,
        sid=int(fields["sid"]), pgid=int(fields["pgid"]), tty=int(fields["tty"]),
        start=int(fields["start"]), partial=not argv or not exepath,
    )


def children_of(roots: set[int], proc: str = "/proc", limit: int = 4096) -> dict[int, int]:
    """{pid: ppid} of every live process below `roots` (and the processes in their process
    groups), from one pass over /proc - the tree as it was before the sensor started."""
    parents: dict[int, int] = {}
    groups: dict[int, int] = {}
    try:
        entries = [e for e in os.listdir(proc) if e.isdigit()]
    except OSError:
        return {}
    for entry in entries:
        data = _read(f"{proc}/{entry}/stat")
        fields = parse_stat(data) if data else {}
        if fields:
            parents[int(entry)] = int(fields["ppid"])
            groups[int(entry)] = int(fields["pgid"])
    root_groups = {groups[r] for r in roots if r in groups}
    found: dict[int, int] = {}
    frontier = set(roots)
    while frontier and len(found) < limit:
        nxt = {pid for pid, ppid in parents.items() if ppid in frontier and pid not in found}
        for pid in nxt:
            found[pid] = parents[pid]
        frontier = nxt
    for pid, pgid in groups.items():
        if pgid in root_groups and pid not in found and pid not in roots and len(found) < limit:
            found[pid] = parents[pid]
    return found


@lru_cache(maxsize=256)
def user_name(uid: int | None) -> str:
    if uid is None:
        return ""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@lru_cache(maxsize=256)
def group_name(gid: int | None) -> str:
    if gid is None:
        return ""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
