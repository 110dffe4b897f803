"""fanotify through libc (ctypes): file opens, exec opens and write-closes on whole mounts.

Notification class only (FAN_CLASS_NOTIF): the sensor watches, it never blocks a process.
Each event carries an open file descriptor of the file and the pid of the process that opened
it; the path is the descriptor's `/proc/self/fd` link, read only for the pids the caller cares
about (every other descriptor is closed at once: a mount mark sees the whole machine).

fanotify gives no open flags. FAN_CLOSE_WRITE says "this file was open for writing" (at its
close), so an open whose event carries FAN_CLOSE_WRITE - the kernel merges the two when both
are still queued - or a lone FAN_CLOSE_WRITE, is reported as an open for writing. The
kernel's queue is bounded (16384 events); an overflow arrives as FAN_Q_OVERFLOW and is
counted, never hidden.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import struct
import time
from dataclasses import dataclass
from typing import Callable, Iterable

FAN_MODIFY = 0x2
FAN_CLOSE_WRITE = 0x8
FAN_OPEN = 0x20
FAN_OPEN_EXEC = 0x1000
FAN_Q_OVERFLOW = 0x4000
FAN_CLOEXEC, FAN_NONBLOCK, FAN_CLASS_NOTIF = 0x1, 0x2, 0x0
FAN_MARK_ADD, FAN_MARK_MOUNT = 0x1, 0x10
FANOTIFY_METADATA_VERSION = 3
AT_FDCWD = -100
FAN_NOFD = -1
DEFAULT_MASK = FAN_OPEN | FAN_OPEN_EXEC | FAN_CLOSE_WRITE

_META = struct.Struct("=IBBHQii")     # event_len, vers, reserved, metadata_len, mask, fd, pid


class FanotifyError(Exception):
    """fanotify cannot be used here; the message says why."""


@dataclass(frozen=True)
class FileEvent:
    mask: int
    pid: int
    path: str | None          # None: the event had no descriptor, or its pid was not wanted

    @property
    def is_exec(self) -> bool:
        return bool(self.mask & FAN_OPEN_EXEC)

    @property
    def is_write(self) -> bool:
        return bool(self.mask & FAN_CLOSE_WRITE)


def parse_metadata(data: bytes) -> list[tuple[int, int, int]]:
    """(mask, fd, pid) of each event record in a read() buffer. Pure."""
    out = []
    off = 0
    while off + _META.size <= len(data):
        length, vers, _r, _mlen, mask, fd, pid = _META.unpack_from(data, off)
        if vers != FANOTIFY_METADATA_VERSION:
            raise FanotifyError(f"fanotify metadata version {vers}, expected "
                                f"{FANOTIFY_METADATA_VERSION}")
        if length < _META.size:
            break
        out.append((mask, fd, pid))
        off += length
    return out


def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    try:
        lib.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
        lib.fanotify_init.restype = ctypes.c_int
        lib.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64,
                                      ctypes.c_int, ctypes.c_char_p]
        lib.fanotify_mark.restype = ctypes.c_int
    except AttributeError:
        raise FanotifyError("this C library has no fanotify_init/fanotify_mark") from None
    return lib


class Fanotify:
    def __init__(self, mask: int = DEFAULT_MASK) -> None:
        self.mask = mask
        self.fd = -1
        self.marked: list[str] = []
        self.overflows = 0
        self._lib: ctypes.CDLL | None = None

    def open(self) -> "Fanotify":
        self._lib = _libc()
        fd = self._lib.fanotify_init(FAN_CLOEXEC | FAN_NONBLOCK | FAN_CLASS_NOTIF,
                                     os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            hint = " (needs root: CAP_SYS_ADMIN)" if err == errno.EPERM else \
                " (the kernel was built without fanotify)" if err == errno.ENOSYS else ""
            raise FanotifyError(f"fanotify_init failed: {os.strerror(err)}{hint}")
        self.fd = fd
        return self

    def mark_mount(self, path: str) -> None:
        """Watch the whole mount that holds `path` (every open below it, recursively)."""
        assert self._lib is not None and self.fd >= 0
        res = self._lib.fanotify_mark(self.fd, FAN_MARK_ADD | FAN_MARK_MOUNT, self.mask,
                                      AT_FDCWD, os.fsencode(path))
        if res < 0:
            err = ctypes.get_errno()
            raise FanotifyError(f"fanotify_mark on the mount of {path} failed: "
                                f"{os.strerror(err)}")
        self.marked.append(path)

    def fileno(self) -> int:
        return self.fd

    def read_raw(self, max_bytes: int = 8192) -> list[tuple[int, int, int]]:
        """One read: (mask, fd, pid) records whose descriptors the caller must hand to
        `resolve` (a small read keeps few descriptors open at a time)."""
        while True:
            try:
                data = os.read(self.fd, max_bytes)
            except BlockingIOError:
                return []
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            return parse_metadata(data)

    def resolve(self, raw: list[tuple[int, int, int]],
                wanted: Callable[[int], bool]) -> list[FileEvent]:
        """Paths for the wanted pids' events; every descriptor is closed."""
        out: list[FileEvent] = []
        try:
            for i, (mask, fd, pid) in enumerate(raw):
                if mask & FAN_Q_OVERFLOW:
                    self.overflows += 1
                if fd < 0:
                    continue
                path = None
                try:
                    if wanted(pid):
                        path = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    path = None
                finally:
                    os.close(fd)
                    raw[i] = (mask, -1, pid)
                out.append(FileEvent(mask, pid, path))
        finally:
            for _mask, fd, _pid in raw:
                if fd >= 0:
                    os.close(fd)
        return out

    def read(self, wanted: Callable[[int], bool], budget: int = 64) -> list[FileEvent]:
        """Everything readable now (up to `budget` reads); paths only for wanted pids."""
        out: list[FileEvent] = []
        for _ in range(budget):
            raw = self.read_raw()
            if not raw:
                break
            out.extend(self.resolve(raw, wanted))
        return out

    def self_test(self, paths: Iterable[str], timeout: float = 3.0) -> None:
        """Open a file below each watched path and require the event: proves the marks work."""
        me = os.getpid()
        for base in paths:
            probe = _probe_file(base)
            if probe is None:
                continue
            with open(probe, "rb"):
                pass
            want = os.path.realpath(probe)
            deadline = time.monotonic() + timeout
            seen = False
            while not seen and time.monotonic() < deadline:
                if not select.select([self.fd], [], [], 0.1)[0]:
                    continue
                seen = any(e.pid == me and e.path == want
                           for e in self.read(lambda pid: pid == me))
            if not seen:
                raise FanotifyError(f"fanotify marked the mount of {base}, but opening {probe} "
                                    "produced no event")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _probe_file(base: str) -> str | None:
    """A readable regular file at or just below `base`, to open for the self-test."""
    if os.path.isfile(base):
        return base
    try:
        with os.scandir(base) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False) and os.access(entry.path, os.R_OK):
                    return entry.path
    except OSError:
        return None
    return None
