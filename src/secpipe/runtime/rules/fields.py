"""The event fields this engine can evaluate, their types, and how a value is read off an event.

An event is a plain mapping from Falco field names to values, filled in by whoever observed it
(the local sensor, a test, a replayed recording):

    {"evt.type": "execve", "proc.name": "sh", "proc.exepath": "/bin/sh",
     "proc.args": "-c id", "proc.aname": ["gunicorn", "python3", "systemd"], ...}

Ancestor fields (`proc.aname`, `proc.apid`, `proc.aexe`, `proc.aexepath`, `proc.acmdline`) hold
the ancestors parent first. `proc.aname[0]` is the process itself, `proc.aname[1]` its parent;
without an index a check matches when ANY ancestor matches (libsinsp's behaviour). Fields a
sensor did not fill in but that follow from others (`proc.pname` from the ancestors,
`fd.directory` from `fd.name`, `proc.cmdline` from name and args) are derived here, so every
sensor derives them the same way. A missing value makes every check on it false, as in Falco.
"""

from __future__ import annotations

import base64
import posixpath
from typing import Any, Callable, Mapping

STRING, INT, BOOL = "string", "int", "bool"

# Field -> type. The fields a sensor on this machine can observe (exec through the proc
# connector and /proc, opens through fanotify) plus the container/k8s identity it is told.
FIELDS: dict[str, str] = {
    "evt.type": STRING, "evt.dir": STRING, "evt.num": INT, "evt.time": STRING,
    "evt.time.iso8601": STRING, "evt.hostname": STRING, "evt.res": STRING, "evt.rawres": INT,
    "evt.is_open_read": BOOL, "evt.is_open_write": BOOL, "evt.is_open_exec": BOOL,
    "evt.source": STRING,
    "proc.name": STRING, "proc.exe": STRING, "proc.exepath": STRING, "proc.cmdline": STRING,
    "proc.args": STRING, "proc.pid": INT, "proc.ppid": INT, "proc.vpid": INT,
    "proc.pname": STRING, "proc.pexe": STRING, "proc.pexepath": STRING,
    "proc.pcmdline": STRING, "proc.aname": STRING, "proc.apid": INT, "proc.aexe": STRING,
    "proc.aexepath": STRING, "proc.acmdline": STRING, "proc.cwd": STRING, "proc.tty": INT,
    "proc.duration": INT, "proc.sid": INT, "proc.vpgid": INT,
    "thread.tid": INT,
    "user.uid": INT, "user.name": STRING, "user.loginuid": INT, "user.loginname": STRING,
    "group.gid": INT, "group.name": STRING,
    "fd.name": STRING, "fd.nameraw": STRING, "fd.directory": STRING, "fd.filename": STRING,
    "fd.typechar": STRING, "fd.type": STRING, "fd.num": INT,
    "container.id": STRING, "container.name": STRING, "container.image": STRING,
    "container.image.repository": STRING, "container.image.tag": STRING,
    "container.image.digest": STRING, "container.image.id": STRING,
    "k8s.ns.name": STRING, "k8s.pod.name": STRING,
}

# Ancestor fields and the single-process field their index 0 means.
ANCESTOR_SELF = {"proc.aname": "proc.name", "proc.apid": "proc.pid", "proc.aexe": "proc.exe",
                 "proc.aexepath": "proc.exepath", "proc.acmdline": "proc.cmdline"}
# Parent fields read off the first ancestor when the sensor did not set them.
PARENT_OF = {"proc.pname": "proc.aname", "proc.ppid": "proc.apid", "proc.pexe": "proc.aexe",
             "proc.pexepath": "proc.aexepath", "proc.pcmdline": "proc.acmdline"}


class Many(list):
    """Several values (any ancestor): a check is true when it holds for one of them."""


def _derived(event: Mapping[str, Any], name: str) -> Any:
    if name in PARENT_OF:
        ancestors = event.get(PARENT_OF[name])
        return ancestors[0] if isinstance(ancestors, (list, tuple)) and ancestors else None
    if name in ("fd.directory", "fd.filename", "fd.nameraw"):
        path = event.get("fd.name")
        if not isinstance(path, str) or not path:
            return None
        if name == "fd.nameraw":
            return path
        if name == "fd.filename":
            return posixpath.basename(path)
        return posixpath.dirname(path) or "/"
    if name == "proc.cmdline":
        pname = event.get("proc.name")
        if pname is None:
            return None
        args = event.get("proc.args") or ""
        return f"{pname} {args}" if args else str(pname)
    if name == "proc.args":
        cmdline = event.get("proc.cmdline")
        if not isinstance(cmdline, str):
            return None
        return cmdline.split(" ", 1)[1] if " " in cmdline else ""
    if name == "container.image":
        repo, tag = event.get("container.image.repository"), event.get("container.image.tag")
        if repo:
            return f"{repo}:{tag}" if tag else repo
        return None
    if name == "evt.hostname":
        return event.get("hostname")
    return None


def raw_value(event: Mapping[str, Any], name: str, arg: str | None = None) -> Any:
    """A field's value on an event: a scalar, a `Many`, or None when it has none."""
    if name in ANCESTOR_SELF:
        ancestors = event.get(name)
        if arg is None:
            return Many(ancestors) if isinstance(ancestors, (list, tuple)) and ancestors else None
        try:
            index = int(arg)
        except ValueError:
            return None
        if index == 0:
            return raw_value(event, ANCESTOR_SELF[name])
        if isinstance(ancestors, (list, tuple)) and 0 < index <= len(ancestors):
            return ancestors[index - 1]
        return None
    if arg is not None:
        return event.get(f"{name}[{arg}]")
    value = event.get(name)
    return value if value is not None else _derived(event, name)


def _b64(value: str) -> str:
    try:
        return base64.b64decode(value, validate=False).decode("utf-8", "replace")
    except (ValueError, TypeError):
        return value


TRANSFORM: dict[str, Callable[[Any], Any]] = {
    "tolower": lambda v: str(v).lower(),
    "toupper": lambda v: str(v).upper(),
    "basename": lambda v: posixpath.basename(str(v)),
    "b64": lambda v: _b64(str(v)),
    "len": lambda v: len(str(v)),
}


def field_type(name: str, transformers: tuple[str, ...] = ()) -> str:
    kind = FIELDS.get(name, STRING)
    for tr in transformers:
        kind = INT if tr == "len" else STRING
    return kind


def as_type(value: Any, kind: str) -> Any:
    """An event value in the field's type (None when it cannot be one)."""
    if value is None:
        return None
    if kind == INT:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        try:
            return int(str(value), 0)
        except ValueError:
            return None
    if kind == BOOL:
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("true", "1", "yes")
    return value if isinstance(value, str) else str(value)


def display(value: Any) -> str:
    """A value as Falco prints it in an output (`<NA>` when there is none)."""
    if value is None:
        return "<NA>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(display(v) for v in value)
    return str(value)
