"""The kernel's process events connector (NETLINK_CONNECTOR, CN_IDX_PROC), in pure stdlib.

Every fork, exec and exit on the machine arrives as a datagram; the kernel only sends them to
root and only in the initial network namespace, and a container with its own namespace gets
nothing at all, silently. So `subscribe()` waits for the kernel's acknowledgement and
`self_test()` proves that events really flow (a child we start must be seen) before anyone
relies on the stream: a sensor that hears nothing must say so, not report "no alerts".

Wire format (linux/netlink.h, linux/connector.h, linux/cn_proc.h), host byte order:
    nlmsghdr  = len u32, type u16, flags u16, seq u32, pid u32            (16 bytes)
    cn_msg    = idx u32, val u32, seq u32, ack u32, len u16, flags u16    (20 bytes)
    proc_event= what u32, cpu u32, timestamp_ns u64, then the event's data
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import subprocess
import time
from dataclasses import dataclass

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
PROC_CN_MCAST_LISTEN, PROC_CN_MCAST_IGNORE = 1, 2

PROC_EVENT_NONE = 0x0
PROC_EVENT_FORK = 0x1
PROC_EVENT_EXEC = 0x2
PROC_EVENT_UID = 0x4
PROC_EVENT_GID = 0x40
PROC_EVENT_SID = 0x80
PROC_EVENT_COMM = 0x200
PROC_EVENT_EXIT = 0x80000000

_NLMSGHDR = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_EVENT_HEAD = struct.Struct("=IIQ")
_HEAD = _NLMSGHDR.size + _CN_MSG.size            # 36
_DATA = _HEAD + _EVENT_HEAD.size                 # 52: where the event's own fields start
_RCVBUF = 8 * 1024 * 1024


class ConnectorError(Exception):
    """The proc connector cannot be used here; the message says why."""


@dataclass(frozen=True)
class ProcEvent:
    """One process event. `pid`/`tgid` are the process (thread) the event is about;
    for a fork, `parent_tgid` is the process that forked and `pid`/`tgid` the child."""

    kind: str                 # fork | exec | exit | uid | gid | sid | comm | ack
    pid: int = 0
    tgid: int = 0
    parent_pid: int = 0
    parent_tgid: int = 0
    ts_ns: int = 0            # kernel monotonic clock, for ordering only
    value: int = 0            # ack: errno; exit: exit code; uid/gid: effective id
    comm: str = ""

    @property
    def is_thread(self) -> bool:
        """A thread, not a process (only processes are tracked)."""
        return self.pid != self.tgid


def parse_messages(data: bytes) -> list[ProcEvent]:
    """The proc events in one datagram (several netlink messages may share it). Pure."""
    out: list[ProcEvent] = []
    off = 0
    while off + _NLMSGHDR.size <= len(data):
        length, mtype, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, off)
        if length < _NLMSGHDR.size or off + length > len(data):
            break
        if mtype == NLMSG_DONE and length >= _DATA:
            idx, val, _s, _a, _ln, _f = _CN_MSG.unpack_from(data, off + _NLMSGHDR.size)
            if (idx, val) == (CN_IDX_PROC, CN_VAL_PROC):
                event = _parse_event(data, off, length)
                if event is not None:
                    out.append(event)
        off += (length + 3) & ~3
    return out


def _parse_event(data: bytes, off: int, length: int) -> ProcEvent | None:
    what, _cpu, ts = _EVENT_HEAD.unpack_from(data, off + _HEAD)
    body = off + _DATA
    room = off + length - body

    def ints(fmt: str) -> tuple[int, ...] | None:
        return struct.unpack_from(fmt, data, body) if struct.calcsize(fmt) <= room else None

    if what == PROC_EVENT_FORK and (v := ints("=iiii")):
        return ProcEvent("fork", pid=v[2], tgid=v[3], parent_pid=v[0], parent_tgid=v[1], ts_ns=ts)
    if what == PROC_EVENT_EXEC and (v := ints("=ii")):
        return ProcEvent("exec", pid=v[0], tgid=v[1], ts_ns=ts)
    if what == PROC_EVENT_EXIT and (v := ints("=iiIIii")):
        return ProcEvent("exit", pid=v[0], tgid=v[1], parent_pid=v[4], parent_tgid=v[5],
                         ts_ns=ts, value=v[2])
    if what in (PROC_EVENT_UID, PROC_EVENT_GID) and (v := ints("=iiII")):
        return ProcEvent("uid" if what == PROC_EVENT_UID else "gid", pid=v[0], tgid=v[1],
                         ts_ns=ts, value=v[3])
    if what == PROC_EVENT_SID and (v := ints("=ii")):
        return ProcEvent("sid", pid=v[0], tgid=v[1], ts_ns=ts)
    if what == PROC_EVENT_COMM and (v := ints("=ii16s")):
        return ProcEvent("comm", pid=v[0], tgid=v[1], ts_ns=ts,
                         comm=v[2].split(b"\0", 1)[0].decode("utf-8", "replace"))
    if what == PROC_EVENT_NONE and (v := ints("=I")):
        return ProcEvent("ack", ts_ns=ts, value=v[0])
    return None


def control_message(op: int, seq: int = 0, port: int = 0) -> bytes:
    """The datagram that (un)subscribes a socket to process events."""
    payload = struct.pack("=I", op)
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, seq, 0, len(payload), 0) + payload
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(cn), NLMSG_DONE, 0, seq, port) + cn


class ProcConnector:
    """A subscribed proc connector socket. `read()` never blocks once `fileno()` is readable."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.lost = 0                 # datagrams the kernel dropped (ENOBUFS)

    def open(self, ack_timeout: float = 2.0) -> "ProcConnector":
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        except (OSError, AttributeError) as exc:
            raise ConnectorError(f"cannot open a NETLINK_CONNECTOR socket: {_why(exc)}") from None
        try:
            for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, _RCVBUF)
                    break
                except OSError:
                    continue
            sock.bind((0, CN_IDX_PROC))
            sock.send(control_message(PROC_CN_MCAST_LISTEN, port=sock.getsockname()[0]))
        except OSError as exc:
            sock.close()
            raise ConnectorError("cannot subscribe to the kernel's process events "
                                 f"(CN_IDX_PROC): {_why(exc)}") from None
        self.sock = sock
        self._await_ack(ack_timeout)
        sock.setblocking(False)
        return self

    def _await_ack(self, timeout: float) -> None:
        assert self.sock is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                self.close()
                raise ConnectorError("the kernel did not acknowledge the process events "
                                     "subscription (no proc connector in this kernel, or not "
                                     "the initial network namespace)")
            for event in parse_messages(self.sock.recv(65536)):
                if event.kind == "ack":
                    if event.value:
                        self.close()
                        raise ConnectorError("the kernel refused the process events "
                                             f"subscription: {os.strerror(event.value)}")
                    return

    def fileno(self) -> int:
        assert self.sock is not None
        return self.sock.fileno()

    def read(self, budget: int = 256) -> list[ProcEvent]:
        """Everything readable now, up to `budget` datagrams."""
        assert self.sock is not None
        out: list[ProcEvent] = []
        for _ in range(budget):
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:   # the socket overflowed: events were lost
                    self.lost += 1
                    continue
                raise
            out.extend(parse_messages(data))
        return out

    def self_test(self, timeout: float = 3.0) -> None:
        """Start a child and require its exec to be seen: proves events reach this socket."""
        assert self.sock is not None
        probe = subprocess.Popen(["/bin/true"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe.wait()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not select.select([self.sock], [], [], 0.1)[0]:
                continue
            for event in self.read():
                if event.kind == "exec" and event.tgid == probe.pid:
                    return
        raise ConnectorError("subscribed to the kernel's process events, but the exec of a "
                             f"test child (pid {probe.pid}) never arrived: this kernel or "
                             "namespace does not deliver them")

    def close(self) -> None:
        if self.sock is None:
            return
        try:
            self.sock.setblocking(True)
            self.sock.send(control_message(PROC_CN_MCAST_IGNORE,
                                           port=self.sock.getsockname()[0]))
        except OSError:
            pass
        self.sock.close()
        self.sock = None


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in (errno.EPERM, errno.EACCES):
        return f"{exc.strerror} (needs root: CAP_NET_ADMIN)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
