"""Observations as the rules engine's events: plain mappings of Falco field names.

An exec becomes `evt.type = execve` (exit direction, success: the proc connector only reports
execs that happened), a file open `evt.type = openat`. Process fields describe the process
after the exec, ancestors are listed parent first (`proc.aname`, `proc.apid`, ...) and the
engine derives `proc.pname`, `fd.directory` and friends from them, as for any event.
"""

from __future__ import annotations

import itertools
import posixpath
import time
from typing import Any, Mapping, Sequence

from secpipe.runtime.sensor.procfs import ProcInfo, group_name, user_name

_SEQ = itertools.count(1)


def process_fields(info: ProcInfo, ancestors: Sequence[ProcInfo]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "proc.name": info.name or posixpath.basename(info.exepath) or None,
        "proc.exe": info.exe or info.exepath or None,
        "proc.exepath": info.exepath or None,
        "proc.args": " ".join(info.args),
        "proc.pid": info.pid, "proc.vpid": info.pid, "thread.tid": info.pid,
        "proc.ppid": info.ppid,
        "proc.sid": info.sid, "proc.vpgid": info.pgid, "proc.tty": info.tty,
        "proc.cwd": (info.cwd.rstrip("/") + "/") if info.cwd else None,
        "proc.aname": [a.name for a in ancestors],
        "proc.apid": [a.pid for a in ancestors],
        "proc.aexe": [a.exe or a.exepath for a in ancestors],
        "proc.aexepath": [a.exepath for a in ancestors],
        "proc.acmdline": [a.cmdline for a in ancestors],
        "user.uid": info.uid, "user.name": user_name(info.uid) or None,
        "group.gid": info.gid, "group.name": group_name(info.gid) or None,
        "user.loginuid": -1 if info.loginuid is None else info.loginuid,
        "user.loginname": user_name(info.loginuid) if info.loginuid is not None else None,
    }
    if fields["proc.name"]:
        fields["proc.cmdline"] = " ".join((fields["proc.name"], *info.args)) \
            if info.args else fields["proc.name"]
    return {k: v for k, v in fields.items() if v is not None}


def _base(evt_type: str, hostname: str, identity: Mapping[str, Any],
          when_ns: int | None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "evt.type": evt_type, "evt.dir": "<", "evt.res": "SUCCESS", "evt.rawres": 0,
        "evt.num": next(_SEQ), "evt.rawtime": when_ns if when_ns is not None else time.time_ns(),
        "evt.source": "syscall", "evt.hostname": hostname, "hostname": hostname,
        "container.id": "host",
    }
    event.update({k: v for k, v in identity.items() if v not in (None, "")})
    return event


def exec_event(info: ProcInfo, ancestors: Sequence[ProcInfo], *, hostname: str = "",
               identity: Mapping[str, Any] = {}, when_ns: int | None = None) -> dict[str, Any]:
    event = _base("execve", hostname, identity, when_ns)
    event.update(process_fields(info, ancestors))
    return event


def open_event(info: ProcInfo, ancestors: Sequence[ProcInfo], path: str, *, write: bool,
               executing: bool = False, is_dir: bool = False, hostname: str = "",
               identity: Mapping[str, Any] = {}, when_ns: int | None = None) -> dict[str, Any]:
    event = _base("openat", hostname, identity, when_ns)
    event.update(process_fields(info, ancestors))
    event.update({
        "fd.name": path, "fd.typechar": "d" if is_dir else "f",
        "fd.type": "directory" if is_dir else "file",
        "evt.is_open_read": not write, "evt.is_open_write": write,
        "evt.is_open_exec": executing,
    })
    return event
