"""A polite, bounded spider that only ever talks to the target's origin.

Bounded by pages and wall time, a few requests in flight (default 4), a per-request timeout
and a body cap. Scope is ZAP's "folder" scope: same scheme, host and port as the target and a
path under the target's folder. Links come from HTML (a, area, link, script, img, iframe,
frame, form actions, meta refresh), redirects, /robots.txt (Allow, Disallow and Sitemap lines
are discovery hints, as ZAP's spider reads them) and sitemap.xml. Everything on another origin
is recorded (`external`) and never requested: the only request path checks the origin, the
client never follows redirects itself and ignores proxy variables (a proxy is another host).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from secpipe.engines.baseline.message import Message

DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT = 10.0
MAX_BODY = 2 * 1024 * 1024
USER_AGENT = "Mozilla/5.0 (compatible; secpipe-baseline)"
_LINK_ATTRS = {
    "a": "href", "area": "href", "link": "href", "script": "src", "img": "src",
    "iframe": "src", "frame": "src", "form": "action", "embed": "src", "source": "src",
}  # fmt: skip
_LOC = re.compile(r"<loc>\s*([^<\s]+)\s*</loc>", re.I)
_REFRESH = re.compile(r"url\s*=\s*['\"]?([^'\";]+)", re.I)


class TargetUnreachable(RuntimeError):
    """The target URL itself could not be fetched: there is nothing to scan."""


class OutOfScope(RuntimeError):
    """A request to another origin was attempted (a bug guard: it is never sent)."""


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


class Scope:
    """ZAP's folder scope around a target URL."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"target must be an http(s) URL with a host: {target!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname.lower()
        self.port = parts.port or _default_port(parts.scheme)
        path = parts.path or "/"
        self.prefix = path[: path.rfind("/") + 1]

    @property
    def origin(self) -> str:
        default = self.port == _default_port(self.scheme)
        netloc = self.host if default else f"{self.host}:{self.port}"
        return f"{self.scheme}://{netloc}"

    def same_origin(self, url: str) -> bool:
        parts = urlsplit(url)
        try:
            port = parts.port or _default_port(parts.scheme)
        except ValueError:
            return False
        return (
            parts.scheme == self.scheme and (parts.hostname or "").lower() == self.host
            and port == self.port
        )  # fmt: skip

    def contains(self, url: str) -> bool:
        return self.same_origin(url) and (urlsplit(url).path or "/").startswith(self.prefix)


def normalize(base: str, ref: str) -> str | None:
    """Absolute http(s) URL without fragment, or None for mailto:, javascript:, junk."""
    ref = ref.strip()
    if not ref or ref.startswith("#"):
        return None
    try:
        parts = urlsplit(urljoin(base, ref))
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", parts.query, ""))


def links_in(msg: Message) -> list[str]:
    """Raw link targets of a response, by kind of document."""
    path = msg.parts.path.lower()
    if path.endswith("/robots.txt"):
        found = []
        for line in msg.text.splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() in ("allow", "disallow", "sitemap") and value.strip():
                found.append(value.strip().replace("*", "").split("$")[0])
        return found
    if "xml" in msg.content_type or path.endswith(".xml"):
        return _LOC.findall(msg.text)
    if not msg.is_html:
        return []
    found = []
    for element in msg.doc.elements:
        attr = _LINK_ATTRS.get(element.tag)
        if attr:
            value = element.get(attr)
            if value:
                found.append(value)
        elif element.tag == "meta" and (element.get("http-equiv") or "").lower() == "refresh":
            match = _REFRESH.search(element.get("content") or "")
            if match:
                found.append(match.group(1))
    return found


@dataclass
class CrawlResult:
    fetched: list[tuple[str, int]] = field(default_factory=list)  # (url, status) in order
    external: set[str] = field(default_factory=set)  # other-origin URLs seen, never fetched
    excluded: set[str] = field(default_factory=set)  # in scope but OUTOFSCOPE for every rule
    errors: list[str] = field(default_factory=list)
    stopped_by: str = "done"  # done, pages or time

    @property
    def pages(self) -> int:
        return len(self.fetched)


class Spider:
    def __init__(
        self,
        target: str,
        on_message: Callable[[Message], None],
        *,
        max_pages: int,
        max_seconds: float,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT,
        exclude: Callable[[str], bool] = lambda url: False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.scope = Scope(target)
        self.headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self.target = normalize(target, target) or target
        self.on_message = on_message
        self.max_pages = max(1, max_pages)
        self.max_seconds = max_seconds
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.exclude = exclude
        self.result = CrawlResult()
        self._seen: set[str] = set()
        self._started = 0
        self._queue: asyncio.Queue[str] = asyncio.Queue()

    def _enqueue(self, url: str | None, discovery_only: bool = False) -> None:
        if url is None or url in self._seen:
            return
        if not self.scope.same_origin(url):
            self.result.external.add(url)
            return
        if not discovery_only and not self.scope.contains(url):
            return
        if self.exclude(url):
            self.result.excluded.add(url)
            return
        self._seen.add(url)
        self._queue.put_nowait(url)

    async def _fetch(self, client: httpx.AsyncClient, url: str) -> Message:
        if not self.scope.same_origin(url):
            raise OutOfScope(url)
        async with client.stream("GET", url) as response:
            chunks, size, truncated = [], 0, False
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_BODY:
                    truncated = True
                    break
            body = b"".join(chunks)[:MAX_BODY]
            return Message(
                url=url,
                method="GET",
                status=response.status_code,
                reason=response.reason_phrase,
                http_version=response.http_version,
                headers=tuple((k.decode("latin-1"), v.decode("latin-1"))
                              for k, v in response.headers.raw),  # fmt: skip
                request_headers=tuple(response.request.headers.items()),
                body=body,
                truncated=truncated,
            )

    async def _worker(self, client: httpx.AsyncClient, deadline: float) -> None:
        while True:
            url = await self._queue.get()
            try:
                if time.monotonic() >= deadline:
                    self.result.stopped_by = "time"
                    continue
                if self._started >= self.max_pages:
                    self.result.stopped_by = "pages"
                    continue
                self._started += 1
                try:
                    msg = await self._fetch(client, url)
                except httpx.HTTPError as exc:
                    if url == self.target:
                        problem = f"{type(exc).__name__}: {exc}"
                        raise TargetUnreachable(f"target {url} is unreachable: {problem}") from exc
                    self.result.errors.append(f"{url}: {type(exc).__name__}: {exc}")
                    continue
                self.result.fetched.append((url, msg.status))
                if self.scope.contains(url):
                    self.on_message(msg)
                if msg.is_redirect and msg.header("Location"):
                    self._enqueue(normalize(url, msg.header("Location") or ""))
                for link in links_in(msg):
                    self._enqueue(normalize(url, link))
            finally:
                self._queue.task_done()

    async def run(self) -> CrawlResult:
        deadline = time.monotonic() + self.max_seconds
        self._enqueue(self.target)
        for well_known in ("/robots.txt", "/sitemap.xml"):
            self._enqueue(self.scope.origin + well_known, discovery_only=True)
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        async with httpx.AsyncClient(
            timeout=self.timeout, follow_redirects=False, verify=False, trust_env=False,
            limits=limits, headers=self.headers,
        ) as client:  # fmt: skip
            workers = [
                asyncio.create_task(self._worker(client, deadline)) for _ in range(self.concurrency)
            ]
            joined = asyncio.create_task(self._queue.join())
            try:
                remaining = max(0.1, deadline - time.monotonic())
                done, _ = await asyncio.wait(
                    [joined, *workers], timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    if task is not joined and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                if joined not in done:
                    self.result.stopped_by = "time"
            finally:
                for task in (*workers, joined):
                    task.cancel()
                await asyncio.gather(*workers, joined, return_exceptions=True)
        return self.result
