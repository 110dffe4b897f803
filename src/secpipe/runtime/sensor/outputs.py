"""Where alerts go: kept in memory (bounded), JSON lines to a file (Falco's file_output with
json_output), and POSTed one by one to the hub's `/falco` as Falco's http_output does.

The poster runs on its own thread behind a bounded queue, so a slow or absent hub never
stalls the event loop; when the queue is full an alert is dropped for the hub (it is still in
memory and in the file) and counted. Every failure is counted and its last reason kept; no
alert disappears without a number saying so.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USER_AGENT = "secpipe-runtime-sensor (falco http_output compatible)"


@dataclass
class OutputStats:
    alerts: int = 0              # alerts produced
    kept: int = 0                # in memory
    dropped_memory: int = 0      # beyond max_alerts
    posted: int = 0              # the hub answered 2xx
    post_failed: int = 0         # gave up after retries
    dropped_queue: int = 0       # the poster's queue was full
    last_error: str | None = None
    written: int = 0             # lines written to the file


def falco_url(url: str) -> str:
    """The intake's URL: a hub's base URL gets `/falco`; a URL with a path is taken as is
    (what Falco's http_output is given)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if parts.path in ("", "/"):
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/falco", parts.query, ""))
    return url


class HubPoster:
    def __init__(self, url: str, token: str | None, stats: OutputStats, *,
                 queue_size: int = 1000, timeout: float = 5.0, attempts: int = 3) -> None:
        self.url = falco_url(url)
        self.token = token
        self.stats = stats
        self.timeout = timeout
        self.attempts = attempts
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="secpipe-sensor-post",
                                        daemon=True)
        self._thread.start()

    def put(self, alert: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(alert)
        except queue.Full:
            with self._lock:
                self.stats.dropped_queue += 1

    def _post(self, alert: dict[str, Any]) -> None:
        body = json.dumps(alert).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        error = ""
        for attempt in range(self.attempts):
            req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                    resp.read()
                with self._lock:
                    self.stats.posted += 1
                return
            except urllib.error.HTTPError as exc:
                error = f"{self.url} answered {exc.code}: {exc.read()[:200]!r}"
                if exc.code < 500 and exc.code != 429:
                    break            # refused (bad token, bad alert): retrying will not help
            except (urllib.error.URLError, OSError) as exc:
                error = f"{self.url}: {getattr(exc, 'reason', exc)}"
            time.sleep(0.2 * (attempt + 1))
        with self._lock:
            self.stats.post_failed += 1
            self.stats.last_error = error

    def _run(self) -> None:
        while True:
            alert = self.queue.get()
            try:
                if alert is None:
                    return
                self._post(alert)
            finally:
                self.queue.task_done()

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (up to `timeout`), then stop; the rest is counted as dropped."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.queue.put(None, timeout=max(0.01, deadline - time.monotonic()))
                break
            except queue.Full:
                if time.monotonic() >= deadline:
                    break
        self._thread.join(max(0.0, deadline - time.monotonic()))
        left = 0
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            left += item is not None
        if left:
            with self._lock:
                self.stats.dropped_queue += left
                self.stats.last_error = self.stats.last_error or \
                    f"{left} alert(s) not sent before shutdown"


class AlertOutputs:
    """All the alert outputs of one sensor."""

    def __init__(self, *, hub_url: str | None = None, token: str | None = None,
                 file: Path | None = None, max_alerts: int = 10000,
                 queue_size: int = 1000) -> None:
        self.stats = OutputStats()
        self.max_alerts = max_alerts
        self.alerts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._file = open(file, "a", encoding="utf-8") if file else None  # noqa: SIM115
        self.poster = HubPoster(hub_url, token, self.stats, queue_size=queue_size) \
            if hub_url else None

    def emit(self, alert: dict[str, Any]) -> None:
        with self._cond:
            self.stats.alerts += 1
            if len(self.alerts) < self.max_alerts:
                self.alerts.append(alert)
                self.stats.kept += 1
            else:
                self.stats.dropped_memory += 1
            if self._file is not None:
                self._file.write(json.dumps(alert, sort_keys=True) + "\n")
                self._file.flush()
                self.stats.written += 1
            self._cond.notify_all()
        if self.poster is not None:
            self.poster.put(alert)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.alerts)

    def wait(self, count: int, timeout: float) -> bool:
        """True once at least `count` alerts were produced (for callers and tests)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.stats.alerts < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        if self.poster is not None:
            self.poster.close()
            self.poster = None
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def json_lines(alerts: list[dict[str, Any]]) -> bytes:
    """Alerts as Falco's json_output writes them: one JSON object per line."""
    return "".join(json.dumps(a, sort_keys=True) + "\n" for a in alerts).encode()


__all__ = ["AlertOutputs", "HubPoster", "OutputStats", "falco_url", "json_lines"]
