"""Benchmark of the built-in DAST baseline: a generated N-page local site (default 2,000).

    .venv/bin/python bench/dast_baseline.py               # generated 2,000-page site
    .venv/bin/python bench/dast_baseline.py --pages 500   # smaller
    .venv/bin/python bench/dast_baseline.py --url http://127.0.0.1:8000/   # any running target

Prints wall time, responses per second, alerts, and the scanner's peak memory (ru_maxrss of
this process; the generated site is served by a child process so its memory and CPU are not
counted, though on a 2-core machine it competes for CPU). `bench_target` is the function to
reuse for another target, e.g. the example service once the deploy stage has started it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from secpipe.engines.baseline import run_baseline  # noqa: E402


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def bench_target(
    url: str,
    *,
    max_pages: int = 5000,
    max_seconds: float = 600.0,
    rules_file: str | None = None,
    concurrency: int = 4,
) -> dict[str, Any]:
    """Scan `url` once with the baseline and return the figures (JSON-serialisable)."""
    before = _peak_rss_mib()
    started = time.perf_counter()
    cpu = time.process_time()
    result = run_baseline(url, max_pages=max_pages, max_seconds=max_seconds,
                          rules_file=rules_file, concurrency=concurrency)  # fmt: skip
    wall = time.perf_counter() - started
    alerts = result.report["site"][0]["alerts"]
    return {
        "target": url,
        "verdict": result.verdict,
        "error": result.error,
        "responses": result.pages,
        "wall_s": round(wall, 2),
        "responses_per_s": round(result.pages / wall, 1) if wall else None,
        "scanner_cpu_s": round(time.process_time() - cpu, 2),
        "alerts": len(alerts),
        "instances": sum(len(a["instances"]) for a in alerts),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
        "rss_before_mib": round(before, 1),
        "concurrency": concurrency,
    }


# --- the generated site (served by a child process) -------------------------------------------


def _page(i: int, n: int) -> bytes:
    links = "".join(f'<li><a href="/p/{(i + k) % n}">page {(i + k) % n}</a></li>' for k in (1, 2, 3))
    links += f'<li><a href="/p/{(i * 7 + 11) % n}">jump</a></li>'
    extra = ""
    if i % 10 == 0:
        extra += '<form method="post" action="/search"><input name="q"><button>go</button></form>'
    if i % 20 == 0:
        extra += "<!-- TODO: paginate this list -->"
    if i % 50 == 0:
        extra += '<script src="https://cdn.example.com/lib.js"></script>'
    text = "<p>" + ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20) + "</p>"
    return (
        f"<!DOCTYPE html><html><head><title>Page {i}</title>"
        f'<link rel="stylesheet" href="/static/site.css"></head><body><h1>Page {i}</h1>'
        f"{text}<ul>{links}</ul>{extra}<script src=\"/static/app.js\"></script></body></html>"
    ).encode()


def serve_generated(n: int) -> None:
    """Child-process entry: serve the site, print the port, run until killed."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms ACK stall

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            ctype = "text/html; charset=utf-8"
            if path in ("/", "/index.html"):
                body = _page(0, n)
            elif path.startswith("/p/") and path[3:].isdigit() and int(path[3:]) < n:
                body = _page(int(path[3:]), n)
            elif path == "/static/app.js":
                body, ctype = b"document.title += ' *';\n", "application/javascript"
            elif path == "/static/site.css":
                body, ctype = b"body { font-family: sans-serif; }\n", "text/css"
            else:
                self.send_response(404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "10")
                self.end_headers()
                self.wfile.write(b"not found\n")
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Set-Cookie", "visit=1; Path=/; HttpOnly")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


def bench_generated(pages: int, concurrency: int = 4) -> dict[str, Any]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(pages)], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(child.stdout.readline())  # type: ignore[union-attr]
        # pages + index + 2 static files + robots/sitemap (404s): generous bound, no time cap
        figures = bench_target(f"http://127.0.0.1:{port}/", max_pages=pages + 10,
                               max_seconds=900, concurrency=concurrency)  # fmt: skip
    finally:
        child.terminate()
        child.wait(timeout=10)
    figures["generated_pages"] = pages
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000, help="size of the generated site")
    parser.add_argument("--url", help="scan this running target instead of a generated site")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_generated(args.serve)
        return 0
    if args.url:
        figures = bench_target(args.url, concurrency=args.concurrency)
    else:
        figures = bench_generated(args.pages, args.concurrency)
    figures["cpus"] = os.cpu_count()
    print(json.dumps(figures, indent=2))
    return 0 if figures["error"] is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
