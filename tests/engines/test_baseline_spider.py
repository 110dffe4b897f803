"""The spider: scope, discovery sources, bounds, and never another host."""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from secpipe.engines.baseline import run_baseline
from secpipe.engines.baseline.rulesfile import parse_rules
from secpipe.engines.baseline.spider import OutOfScope, Scope, Spider, normalize


def test_scope_is_zap_folder_scope() -> None:
    scope = Scope("http://127.0.0.1:8080/app/index.html")
    assert scope.prefix == "/app/" and scope.origin == "http://127.0.0.1:8080"
    assert scope.contains("http://127.0.0.1:8080/app/x?y=1")
    assert not scope.contains("http://127.0.0.1:8080/application")
    assert not scope.contains("https://127.0.0.1:8080/app/")  # scheme
    assert not scope.contains("http://127.0.0.1:8081/app/")  # port
    assert not scope.contains("http://localhost:8080/app/")  # host
    assert Scope("https://Example.test").origin == "https://example.test"
    with pytest.raises(ValueError):
        Scope("file:///etc/passwd")


def test_normalize() -> None:
    base = "http://h.test/a/b.html"
    assert normalize(base, "c.html#top") == "http://h.test/a/c.html"
    assert normalize(base, "//H.TEST/x") == "http://h.test/x"
    assert normalize(base, "?q=1") == "http://h.test/a/b.html?q=1"
    for junk in ("mailto:a@b.test", "javascript:void(0)", "#frag", "data:text/html,x", "  "):
        assert normalize(base, junk) is None


def test_discovery_robots_sitemap_and_external_never_fetched(defect_site) -> None:
    result = run_baseline(defect_site.url, max_seconds=30)
    fetched = {u.split("/", 3)[-1] for u in result.urls}
    # /private/ is only named in robots.txt, /hidden only in sitemap.xml
    assert {"", "robots.txt", "sitemap.xml", "private/", "hidden", "login"} <= fetched
    assert "http://example.org/external" in result.external
    assert "https://cdn.example.com/lib.js" in result.external
    assert "https://images.example.net/banner.png" in result.external
    # The server saw only paths on itself; nothing was asked of the bait hosts.
    assert all(path.startswith("/") for _, path in defect_site.requests)
    assert all(u.startswith(defect_site.url) for u in result.urls)


def test_folder_scope_and_global_out_of_scope(defect_site) -> None:
    defect_site.requests.clear()
    rules = parse_rules("*\tOUTOFSCOPE\t.*/app/skip/.*\n")
    result = run_baseline(defect_site.url + "app/", rules=rules, max_seconds=30)
    assert result.verdict in (1, 2)
    seen = {u.split("/", 3)[-1] for u in result.urls}
    assert {"app/", "app/page"} <= seen
    assert "outside" not in seen and "app/skip/me" not in seen
    assert ("GET", "/outside") not in defect_site.requests
    assert ("GET", "/app/skip/me") not in defect_site.requests  # OUTOFSCOPE for all: not fetched
    assert "https://other.example/app/" in result.external
    # robots.txt and sitemap.xml at the root are fetched as discovery hints, not scanned
    assert ("GET", "/robots.txt") in defect_site.requests
    reported = {i["uri"] for a in result.report["site"][0]["alerts"] for i in a["instances"]}
    assert all("/app/" in u for u in reported)


def test_page_bound(defect_site) -> None:
    result = run_baseline(defect_site.url, max_pages=3, max_seconds=30)
    assert result.pages == 3 and result.error is None


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        n = int(self.path.strip("/") or 0)
        time.sleep(0.3)
        body = f'<a href="/{n + 1}">next</a><a href="/{n + 2}">skip</a>'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_time_bound_stops_an_endless_site() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        result = run_baseline(f"http://127.0.0.1:{server.server_address[1]}/",
                              max_seconds=1.5, max_pages=10_000)  # fmt: skip
        took = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    # the page count proves the bound stopped it (the site is endless); the wall-clock check
    # only catches a hang, with room for a loaded test machine
    assert result.error is None and 3 <= result.pages <= 40
    assert took < 30, took


def test_fetch_refuses_other_origins() -> None:
    spider = Spider("http://127.0.0.1:9/", lambda m: None, max_pages=1, max_seconds=1)

    async def attempt() -> None:
        async with httpx.AsyncClient(trust_env=False) as client:
            await spider._fetch(client, "http://example.org/")

    with pytest.raises(OutOfScope):
        asyncio.run(attempt())


def test_runs_inside_a_running_event_loop(defect_site) -> None:
    async def inside() -> int:
        return run_baseline(defect_site.url, max_pages=2, max_seconds=10).pages

    assert asyncio.run(inside()) == 2
