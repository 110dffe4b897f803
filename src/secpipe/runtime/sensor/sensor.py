"""The sensor: one thread that turns kernel events about a process tree into Falco alerts.

It listens on two kernel channels at once (select): the proc connector (fork, exec, exit of
every process) and fanotify (opens on the watched mounts). Each pass drains the proc
connector first - an exec's /proc is read the moment it is reported, while the process still
exists - then fanotify, whose exec opens fill in the executable of a process that was already
gone. Events of processes outside the tree are dropped before any work is done on them.
Every event of the tree is evaluated against the loaded rules; each match becomes a Falco
alert handed to the outputs (memory, JSON lines file, the hub's `/falco`).

Starting fails closed: not root, a kernel that refuses either channel, or a channel that
stays silent in its self-test raises SensorUnavailable with the reason. Nothing here
pretends to watch.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from secpipe.runtime.rules import RuleSet
from secpipe.runtime.sensor.events import exec_event, open_event
from secpipe.runtime.sensor.execs import reconcile, settled
from secpipe.runtime.sensor.fanotify import Fanotify, FanotifyError, FileEvent
from secpipe.runtime.sensor.netlink import ConnectorError, ProcConnector, ProcEvent
from secpipe.runtime.sensor.outputs import AlertOutputs, OutputStats
from secpipe.runtime.sensor.procfs import ProcInfo, snapshot
from secpipe.runtime.sensor.tree import ProcessTree

log = logging.getLogger("secpipe.runtime.sensor")

NEEDS_ROOT = "the runtime sensor needs root for the netlink proc connector and fanotify"
_MAX_EXEC_PATHS = 4096
_MAX_PENDING = 1024


class SensorUnavailable(Exception):
    """The sensor cannot watch here; `reason` says why (never a silent no-op)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class SensorConfig:
    pids: Sequence[int]                       # the roots: the service's process(es)
    rules: RuleSet
    watch_paths: Sequence[str] = ()           # mounts for file events; () = roots' cwd + /etc
    files: bool = True                        # fanotify on (False: process events only)
    hostname: str = ""
    identity: Mapping[str, Any] = field(default_factory=dict)   # container.* / k8s.* fields
    hub_url: str | None = None                # POST alerts here (the hub's /falco)
    token: str | None = None                  # the hub's bearer token
    output_file: Path | None = None           # JSON lines, appended
    max_alerts: int = 10000                   # kept in memory
    max_processes: int = 4096                 # tracked at once
    queue_size: int = 1000                    # alerts waiting for the hub


@dataclass
class SensorStats:
    forks: int = 0
    execs: int = 0
    exits: int = 0
    opens: int = 0
    partial_execs: int = 0        # exec of a process gone before /proc could be read
    evaluated: int = 0
    rule_errors: int = 0
    lost_datagrams: int = 0       # proc connector overflow
    fanotify_overflows: int = 0
    refused_processes: int = 0    # not tracked: the tree was at max_processes
    watched_mounts: list[str] = field(default_factory=list)
    roots_alive: bool = True
    error: str | None = None      # the event loop died (the watch is incomplete)
    outputs: OutputStats = field(default_factory=OutputStats)

    def notes(self) -> list[str]:
        out = [f"observed {self.execs} exec, {self.forks} fork, {self.exits} exit and "
               f"{self.opens} file open events of the watched tree; {self.evaluated} "
               f"evaluated, {self.outputs.alerts} alert(s)"]
        if self.watched_mounts:
            out.append("file events from the mounts of: " + ", ".join(self.watched_mounts))
        for count, what in ((self.lost_datagrams, "proc connector datagrams lost (socket "
                             "overflow)"),
                            (self.fanotify_overflows, "fanotify queue overflows (events lost)"),
                            (self.refused_processes, "processes not tracked (tree full)"),
                            (self.partial_execs, "exec(s) read after the process was gone or had "
                             "exec'd again (arguments unknown)"),
                            (self.rule_errors, "rule evaluation errors"),
                            (self.outputs.dropped_memory, "alerts beyond the in-memory cap"),
                            (self.outputs.dropped_queue, "alerts not queued for the hub"),
                            (self.outputs.post_failed, "alerts the hub did not accept")):
            if count:
                out.append(f"{count} {what}")
        if self.outputs.posted:
            out.append(f"{self.outputs.posted} alert(s) posted to the hub")
        if self.outputs.last_error:
            out.append(f"last hub error: {self.outputs.last_error}")
        if not self.roots_alive:
            out.append("the watched service was no longer running at the end of the watch")
        if self.error:
            out.append(f"the sensor's event loop failed: {self.error}")
        return out


@dataclass
class _Exec:
    info: ProcInfo
    ancestors: list[ProcInfo]
    when: int                     # wall clock, ns (the alert's time)
    seen: float = 0.0             # monotonic, when it was read


class Sensor:
    def __init__(self, config: SensorConfig) -> None:
        self.config = config
        self.hostname = config.hostname or socket.gethostname()
        self.stats = SensorStats()
        self.tree = ProcessTree(config.pids, max_processes=config.max_processes)
        self.outputs: AlertOutputs | None = None
        self._nl: ProcConnector | None = None
        self._fan: Fanotify | None = None
        self._wake_r = self._wake_w = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._exec_paths: OrderedDict[int, deque[str]] = OrderedDict()
        self._pending: deque[_Exec] = deque()      # execs waiting for their exec open

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Sensor":
        euid = os.geteuid()
        if euid != 0:
            raise SensorUnavailable(f"{NEEDS_ROOT} (running as uid {euid})")
        try:
            self._open_channels()
        except BaseException:
            self._close_channels()
            raise
        self.outputs = AlertOutputs(hub_url=self.config.hub_url, token=self.config.token,
                                    file=self.config.output_file,
                                    max_alerts=self.config.max_alerts,
                                    queue_size=self.config.queue_size)
        self.stats.outputs = self.outputs.stats
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._thread = threading.Thread(target=self._loop, name="secpipe-sensor", daemon=True)
        self._thread.start()
        return self

    def _open_channels(self) -> None:
        try:
            self._nl = ProcConnector().open()
            self._nl.self_test()
        except ConnectorError as exc:
            raise SensorUnavailable(f"netlink proc connector: {exc}") from None
        missing = self.tree.seed()
        if not self.tree.live:
            raise SensorUnavailable("no process to watch: pid " + ", ".join(map(str, missing))
                                    + " is not running")
        if not self.config.files:
            return
        paths = self._watch_paths()
        try:
            self._fan = Fanotify().open()
            for path in paths:
                self._fan.mark_mount(path)
            self._fan.self_test(paths)
        except (FanotifyError, OSError) as exc:
            raise SensorUnavailable(f"fanotify: {exc}") from None
        self.stats.watched_mounts = list(paths)

    def _watch_paths(self) -> list[str]:
        paths = list(self.config.watch_paths)
        if not paths:
            roots = [i for i in self.tree.live.values() if i.pid in self.tree.roots]
            paths = [i.cwd for i in roots if i.cwd] + ["/etc"] + \
                [os.path.dirname(i.exepath) for i in roots if i.exepath]   # exec opens
        out = []
        for path in paths:
            if not os.path.exists(path):
                raise SensorUnavailable(f"fanotify: cannot watch {path}: no such file or "
                                        "directory")
            if path not in out:
                out.append(path)
        return out

    def stop(self, timeout: float = 10.0) -> SensorStats:
        """Process what the kernel already queued, stop, flush the outputs (idempotent)."""
        if self._thread is not None:
            self._stop.set()
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass
            self._thread.join(timeout)
            self._thread = None
        self.stats.roots_alive = any(snapshot(p) is not None for p in self.tree.roots)
        self._close_channels()
        if self.outputs is not None:
            self.outputs.close()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        return self.stats

    def _close_channels(self) -> None:
        if self._nl is not None:
            self.stats.lost_datagrams = self._nl.lost
            self._nl.close()
            self._nl = None
        if self._fan is not None:
            self.stats.fanotify_overflows = self._fan.overflows
            self._fan.close()
            self._fan = None

    def __enter__(self) -> "Sensor":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return self.outputs.snapshot() if self.outputs else []

    def wait_for_alerts(self, count: int = 1, timeout: float = 5.0) -> bool:
        return self.outputs.wait(count, timeout) if self.outputs else False

    # -- the loop -----------------------------------------------------------------------------
    def _loop(self) -> None:
        assert self._nl is not None
        fds = [self._nl.fileno(), self._wake_r] + ([self._fan.fileno()] if self._fan else [])
        try:
            while not self._stop.is_set():
                select.select(fds, [], [], 0.5)
                self._drain()
            for _ in range(1000):          # what was queued before stop(), bounded
                if not self._drain():
                    break
            while self._pending:
                self._evaluate_exec(self._pending.popleft())
        except Exception as exc:  # noqa: BLE001 - recorded; the caller reports the failed watch
            self.stats.error = f"{type(exc).__name__}: {exc}"
            log.exception("runtime sensor event loop failed")

    def _drain(self) -> bool:
        """One pass; True when there was anything to read.

        Order matters: the proc connector first (an exec's /proc must be read at once), then
        one bounded fanotify read, then the proc connector again - a file event's fork was
        queued before the event itself, so after this second read every process a file event
        can belong to is in the tree - and only then the file events are resolved."""
        try:
            os.read(self._wake_r, 64)
        except (BlockingIOError, OSError):
            pass
        assert self._nl is not None
        execs: list[_Exec] = []
        busy = self._read_proc(execs)
        files: list[FileEvent] = []
        raw: list[tuple[int, int, int]] = []
        if self._fan is not None:
            raw = self._fan.read_raw()
            if raw:
                busy = True
                self._read_proc(execs)
            files = self._fan.resolve(raw, self.tree.known)
            for fe in files:
                if fe.path is not None and fe.is_exec:
                    self._exec_paths.setdefault(fe.pid, deque(maxlen=8)).append(fe.path)
                    self._exec_paths.move_to_end(fe.pid)
                    while len(self._exec_paths) > _MAX_EXEC_PATHS:
                        self._exec_paths.popitem(last=False)
        # Each exec waits for fanotify's exec open of its binary (further down a busy queue,
        # maybe): with it, /proc's reading can be checked (execs.reconcile). It waits until the
        # open is there, the queue is empty, or 1 s.
        self._pending.extend(execs)
        drained = self._fan is None or not raw
        now = time.monotonic()
        while self._pending:
            rec = self._pending[0]
            paths = self._exec_paths.get(rec.info.pid) or ()
            if not (drained or now - rec.seen > 1.0 or len(self._pending) > _MAX_PENDING
                    or settled(rec.info, paths)):
                break
            self._pending.popleft()
            self._evaluate_exec(rec)
        for fe in files:
            if fe.path is None or fe.is_exec or not self.tree.known(fe.pid):
                continue
            info = self.tree.info(fe.pid)
            if info is None:
                continue
            self.stats.opens += 1
            self._evaluate(open_event(info, self.tree.ancestors(fe.pid), _clean(fe.path),
                                      write=fe.is_write, hostname=self.hostname,
                                      identity=self.config.identity))
        return busy

    def _evaluate_exec(self, rec: _Exec) -> None:
        self._evaluate(exec_event(self._complete(rec.info), rec.ancestors,
                                  hostname=self.hostname, identity=self.config.identity,
                                  when_ns=rec.when))

    def _read_proc(self, execs: list[_Exec]) -> bool:
        assert self._nl is not None
        events = self._nl.read(budget=64)
        for event in events:
            self._process_event(event, execs)
        return bool(events)

    def _process_event(self, event: ProcEvent, execs: list[_Exec]) -> None:
        if event.is_thread:
            return
        if event.kind == "fork":
            if self.tree.on_fork(event.parent_tgid, event.tgid) is not None:
                self.stats.forks += 1
        elif event.kind == "exec":
            if not self.tree.tracked(event.tgid):
                return
            when = time.time_ns()
            info = self.tree.on_exec(event.tgid, snapshot(event.tgid))
            if info is not None:
                self.stats.execs += 1
                execs.append(_Exec(info, self.tree.ancestors(event.tgid), when,
                                   time.monotonic()))
        elif event.kind == "exit":
            if self.tree.tracked(event.tgid):
                self.stats.exits += 1
                self.tree.on_exit(event.tgid)
        elif event.kind == "uid" and self.tree.tracked(event.tgid):
            self.tree.update(event.tgid, uid=event.value)
        elif event.kind == "gid" and self.tree.tracked(event.tgid):
            self.tree.update(event.tgid, gid=event.value)
        elif event.kind == "comm" and self.tree.tracked(event.tgid):
            self.tree.update(event.tgid, name=event.comm)

    def _complete(self, info: ProcInfo) -> ProcInfo:
        out = reconcile(info, self._exec_paths.get(info.pid))
        if out.partial or not info.exepath:
            self.stats.partial_execs += 1
        return out

    def _evaluate(self, event: dict[str, Any]) -> None:
        self.stats.evaluated += 1
        try:
            alerts = self.config.rules.alerts(event, hostname=self.hostname)
        except Exception as exc:  # noqa: BLE001 - one bad rule must not stop the watch
            self.stats.rule_errors += 1
            log.warning("rule evaluation failed on %s: %s", event.get("evt.type"), exc)
            return
        assert self.outputs is not None
        for alert in alerts:
            self.outputs.emit(alert)


def _clean(path: str) -> str:
    return path[:-len(" (deleted)")] if path.endswith(" (deleted)") else path
