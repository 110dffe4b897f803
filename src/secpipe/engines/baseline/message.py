"""One fetched request/response pair as the passive rules see it, with ZAP's content tests.

The rules mirror ZAP's `HttpResponseHeader.isHtml()/isText()/isJavaScript()` and friends, so
those predicates live here once and every rule asks the same question the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

from secpipe.engines.baseline.htmldoc import HtmlDoc

_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_IMAGE_EXT = (".png", ".jpg", ".jpeg", ".gif", ".ico", ".bmp", ".webp", ".svg", ".tif", ".tiff")
_FONT_EXT = (".woff", ".woff2", ".ttf", ".otf", ".eot")


@dataclass
class Message:
    """What was asked and what came back; headers keep order, case and repeats."""

    url: str
    method: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    reason: str = ""
    http_version: str = "HTTP/1.1"
    request_headers: tuple[tuple[str, str], ...] = ()
    truncated: bool = False
    _doc: HtmlDoc | None = field(default=None, repr=False, compare=False)

    # -- headers -----------------------------------------------------------------------------

    def header_values(self, name: str) -> list[str]:
        lower = name.lower()
        return [v for k, v in self.headers if k.lower() == lower]

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if values else None

    def has_header(self, name: str) -> bool:
        lower = name.lower()
        return any(k.lower() == lower for k, _ in self.headers)

    def request_header_values(self, name: str) -> list[str]:
        lower = name.lower()
        return [v for k, v in self.request_headers if k.lower() == lower]

    def header_line(self, name: str) -> str:
        """`Name: value` of the first such header, as sent (ZAP quotes header lines)."""
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return f"{key}: {value}"
        return ""

    @property
    def prime_header(self) -> str:
        return f"{self.http_version} {self.status} {self.reason}".rstrip()

    # -- request -----------------------------------------------------------------------------

    @cached_property
    def parts(self):  # noqa: ANN201 - urllib's SplitResult
        return urlsplit(self.url)

    @property
    def is_https(self) -> bool:
        return self.parts.scheme.lower() == "https"

    @property
    def host(self) -> str:
        return (self.parts.hostname or "").lower()

    # -- content -----------------------------------------------------------------------------

    @cached_property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").lower()

    @property
    def is_html(self) -> bool:
        return "html" in self.content_type

    @property
    def is_text(self) -> bool:
        ct = self.content_type
        return any(w in ct for w in ("text", "html", "xml", "json", "javascript", "ecmascript"))

    @property
    def is_javascript(self) -> bool:
        ct = self.content_type
        return "javascript" in ct or "ecmascript" in ct

    @property
    def is_css(self) -> bool:
        return "text/css" in self.content_type or self.parts.path.lower().endswith(".css")

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/") or self.parts.path.lower().endswith(
            _IMAGE_EXT
        )

    @property
    def is_font(self) -> bool:
        ct = self.content_type
        return "font" in ct or self.parts.path.lower().endswith(_FONT_EXT)

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status < 400

    @property
    def is_error(self) -> bool:
        return self.status >= 400

    @cached_property
    def text(self) -> str:
        match = _CHARSET.search(self.content_type)
        encoding = match.group(1) if match else "utf-8"
        try:
            return self.body.decode(encoding, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    @property
    def doc(self) -> HtmlDoc:
        """The parsed body (parsed once, whatever the content type: rules decide relevance)."""
        if self._doc is None:
            self._doc = HtmlDoc(self.text)
        return self._doc
