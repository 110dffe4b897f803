"""Local web apps for the baseline's tests: one full of known defects and a clean twin.

Both serve the same paths from a stdlib `ThreadingHTTPServer` on 127.0.0.1 and a free port,
over HTTP or (with a throwaway self-signed certificate) HTTPS. The defect app carries one
trigger per passive rule; the clean twin answers the same URLs with the fix for each, so a
rule that fires on both is wrong, and a rule quiet on both is untested.

Every request is logged (`Site.requests`) so tests can prove what the spider did and did not
fetch. Nothing here ever contacts another host: the external URLs in the pages are bait.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

Response = tuple[int, list[tuple[str, str]], bytes]
HTML = "text/html; charset=utf-8"

CLEAN_CSP = (
    "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
WEAK_CSP = "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; " \
    "style-src 'self' 'unsafe-inline'"  # fmt: skip
CLEAN_HEADERS = [
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CLEAN_CSP),
    ("Permissions-Policy", "geolocation=(), camera=(), microphone=()"),
    ("Cache-Control", "no-cache, no-store, must-revalidate"),
    ("Pragma", "no-cache"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("Referrer-Policy", "no-referrer"),
]
TRACEBACK = """Traceback (most recent call last):
  File "/srv/app/views.py", line 42, in report
    total = compute(request.args["id"])
ZeroDivisionError: division by zero"""


def page(title: str, body: str, head: str = "") -> bytes:
    return (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title>{head}</head>\n"
        f"<body>\n{body}\n</body></html>\n"
    ).encode()


def defect_routes() -> dict[str, Callable[[], Response]]:
    now = int(time.time())
    home = page(
        "Defect shop",
        f"""<!-- TODO: remove the admin backdoor before launch -->
<h1>Shop</h1>
<a href="#">Menu</a>
<a href="/about">About</a> <a href="/login">Log in</a> <a href="/error">Report</a>
<a href="/sqlerror">Search</a> <a href="/api/data">API</a> <a href="/nocontenttype">Raw</a>
<a href="/static/app.js">script</a> <a href="http://example.org/external">partner</a>
<img src="https://images.example.net/banner.png" alt="">
<p>Last deploy: {now}</p>
<script src="https://cdn.example.com/lib.js"></script>""",
        head='<link rel="stylesheet" href="https://cdn.example.com/style.css">',
    )
    cookies = [("Set-Cookie", "session=abcdef; Path=/"), ("Set-Cookie", "theme=dark; SameSite=None")]
    return {
        "/": lambda: (200, [("Content-Type", HTML), ("Content-Security-Policy", WEAK_CSP),
                            *cookies], home),  # fmt: skip
        "/about": lambda: (200, [("Content-Type", HTML)], page("About", '<a href="/">Home</a>')),
        "/login": lambda: (200, [("Content-Type", HTML)], page("Log in", """<a href="/">Home</a>
<form method="post" action="/login"><input name="user" id="user"><input type="password" name="pw">
<button>Go</button></form>""")),
        "/error": lambda: (500, [("Content-Type", HTML)], page(
            "500 Internal Server Error", f"<h1>Internal Server Error</h1><pre>{TRACEBACK}</pre>")),
        "/sqlerror": lambda: (200, [("Content-Type", HTML)], page(
            "Search", '<a href="/">Home</a><p>You have an error in your SQL syntax near \'x\'</p>')),
        "/api/data": lambda: (200, [("Content-Type", "application/json"),
                                    ("Access-Control-Allow-Origin", "*")],
                              json.dumps({"items": [1, 2, 3]}).encode()),  # fmt: skip
        "/nocontenttype": lambda: (200, [], b"raw bytes without a declared type\n"),
        "/static/app.js": lambda: (200, [("Content-Type", "application/javascript")],
                                   b"// FIXME: remove the hardcoded key\nconsole.log('app');\n"),
        "/robots.txt": lambda: (200, [("Content-Type", "text/plain")],
                                b"User-agent: *\nDisallow: /private/\n"),
        "/sitemap.xml": lambda: (200, [("Content-Type", "application/xml")], b"SITEMAP"),
        "/private/": lambda: (200, [("Content-Type", HTML)], page("Private", '<a href="/">x</a>')),
        "/hidden": lambda: (200, [("Content-Type", HTML)], page("Hidden", '<a href="/">x</a>')),
        "/app/": lambda: (200, [("Content-Type", HTML)], page("App", """<a href="/app/page">in</a>
<a href="/outside">out of the folder</a> <a href="https://other.example/app/">elsewhere</a>
<a href="/app/skip/me">excluded</a>""")),
        "/app/page": lambda: (200, [("Content-Type", HTML)], page("In", '<a href="/app/">up</a>')),
        "/app/skip/me": lambda: (200, [("Content-Type", HTML)], page("Skip", "")),
        "/outside": lambda: (200, [("Content-Type", HTML)], page("Outside", "")),
    }


def clean_routes() -> dict[str, Callable[[], Response]]:
    nav = '<a href="/">Home</a>'
    home = page(
        "Clean shop",
        """<h1>Shop</h1>
<a href="/about">About</a> <a href="/login">Log in</a> <a href="/error">Report</a>
<a href="/sqlerror">Search</a> <a href="/api/data">API</a> <a href="/nocontenttype">Raw</a>
<a href="/static/app.js">script</a>
<p>Welcome.</p>
<script src="/static/app.js"></script>""",
        head='<link rel="stylesheet" href="/static/style.css">',
    )
    cookie = ("Set-Cookie", "session=abcdef; Path=/; HttpOnly; Secure; SameSite=Strict")
    html = [("Content-Type", HTML)]
    return {
        "/": lambda: (200, [*html, cookie], home),
        "/about": lambda: (200, html, page("About", nav)),
        "/login": lambda: (200, html, page("Log in", nav + """
<form method="post" action="/login"><input type="hidden" name="csrf_token" value="k9Xq">
<input name="user" id="user"><input type="password" name="pw"><button>Go</button></form>""")),
        "/error": lambda: (200, html, page("Sorry", nav + "<p>Sorry, that did not work.</p>")),
        "/sqlerror": lambda: (200, html, page("Search", nav + "<p>No results.</p>")),
        "/api/data": lambda: (200, [("Content-Type", "application/json")],
                              json.dumps({"items": [1, 2, 3]}).encode()),  # fmt: skip
        "/nocontenttype": lambda: (200, [("Content-Type", "text/plain")], b"plain text\n"),
        "/static/app.js": lambda: (200, [("Content-Type", "application/javascript")],
                                   b"document.title = 'Clean shop';\n"),
        "/static/style.css": lambda: (200, [("Content-Type", "text/css")], b"h1 { color: #222; }\n"),
        "/robots.txt": lambda: (200, [("Content-Type", "text/plain")],
                                b"User-agent: *\nDisallow: /private/\n"),
        "/sitemap.xml": lambda: (200, [("Content-Type", "application/xml")], b"SITEMAP"),
        "/private/": lambda: (200, html, page("Private", nav)),
        "/hidden": lambda: (200, html, page("Hidden", nav)),
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # scanners probe with odd requests (TLS to HTTP, resets): not a test failure


@dataclass
class Site:
    url: str
    server: ThreadingHTTPServer
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)

    @property
    def paths(self) -> set[str]:
        return {path for _, path in self.requests}


def _handler(routes: dict[str, Callable[[], Response]], clean: bool, site_box: list) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def version_string(self) -> str:
            return "webapp" if clean else "Apache/2.4.1 (Unix)"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def _respond(self) -> None:
            site: Site = site_box[0]
            path = self.path.split("?", 1)[0]
            site.requests.append((self.command, path))
            if path in routes:
                status, headers, body = routes[path]()
            else:
                status, headers, body = 404, [("Content-Type", "text/plain")], b"not found\n"
            if path == "/sitemap.xml":
                body = (f'<?xml version="1.0"?><urlset><url><loc>{site.url}hidden</loc></url>'
                        "</urlset>").encode()  # fmt: skip
            self.send_response(status)
            if clean:
                for name, value in CLEAN_HEADERS:
                    if not (name == "Cache-Control" and any(k == name for k, _ in headers)):
                        self.send_header(name, value)
            else:
                self.send_header("X-Powered-By", "PHP/5.6.40")
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_HEAD = _respond  # noqa: N815

    return Handler


def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the venv has no `cryptography`: openssl)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@contextlib.contextmanager
def serve(kind: str = "defect", tls: tuple[Path, Path] | None = None) -> Iterator[Site]:
    """Run the `defect` or `clean` app until the block ends."""
    routes = defect_routes() if kind == "defect" else clean_routes()
    box: list = []
    server = _Server(("127.0.0.1", 0), _handler(routes, kind == "clean", box))
    scheme = "http"
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    site = Site(f"{scheme}://127.0.0.1:{server.server_address[1]}/", server)
    box.append(site)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)  # fmt: skip
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def alerts(result: object, plugin_id: int | None = None) -> list[dict]:
    """The alerts of a baseline result's (single-site) report, optionally of one plugin."""
    found = result.report["site"][0]["alerts"]  # type: ignore[attr-defined]
    return [a for a in found if plugin_id is None or a["pluginid"] == str(plugin_id)]


def names(result: object, plugin_id: int) -> set[str]:
    return {a["alert"] for a in alerts(result, plugin_id)}
