"""What the web-scanner (DAST) parsers share: HTML to text, safe XML, sites and categories.

ZAP, Wapiti, Nuclei and Nikto report about URLs, not files, so their findings carry an ASFF
resource of type "Other" whose id is the *site* (scheme://host:port); the page URLs go into the
description and properties. That makes "one finding per rule per site" the common identity
and keeps a finding stable while the spider finds more or fewer pages from run to run.

XML reports are parsed with xml.etree after refusing any DTD that could declare entities: an
internal subset (`<!DOCTYPE x [ ... ]>`) is where `<!ENTITY` declarations live (billion laughs,
external entities), so it is refused outright. Nikto always writes an *external* DOCTYPE
(`<!DOCTYPE niktoscan SYSTEM "docs/nikto.dtd">`), which expat never fetches; only that parser
allows it. The declarations are seen as parser events, so a `<!DOCTYPE html>` quoted in a
CDATA response body is data, not a declaration.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.parsers import expat
from html import unescape
from html.parser import HTMLParser
from typing import Iterable
from urllib.parse import urlsplit

from secpipe.formats._common import check_document_size
from secpipe.formats.interface import ReportFormatError
from secpipe.model import Category, mask

_BLOCK_TAGS = {"p", "br", "div", "li", "ul", "ol", "tr", "h1", "h2", "h3", "h4", "pre", "table"}
_URL = re.compile(r"https?://.+?(?=https?://|[\s<>\"']|$)")
# Bounded: with `*`, a search over a long run of letters without "://" is quadratic (ReDoS).
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://")
_TOKEN = re.compile(r"[A-Za-z0-9+/_\-]{20,}={0,2}")

# CWEs that name a hardening or configuration gap (missing headers, cookie flags, cache
# directives, transport security, information leaks, third-party inclusion) rather than a
# flaw in the application's own code.
_CONFIG_CWES = {
    "CWE-16", "CWE-200", "CWE-209", "CWE-311", "CWE-319", "CWE-326", "CWE-327", "CWE-345",
    "CWE-497", "CWE-523", "CWE-524", "CWE-525", "CWE-614", "CWE-693", "CWE-829", "CWE-942",
    "CWE-1004", "CWE-1021", "CWE-1275",
}


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(value: str | None) -> str:
    """ZAP's `<p>..</p>` HTML as plain lines: tags dropped, entities decoded, blank lines gone."""
    if not value:
        return ""
    if "<" in value and ">" in value:
        collector = _TextCollector()
        try:
            collector.feed(value)
            collector.close()
            value = "".join(collector.parts)
        except Exception:  # malformed markup: fall back on a crude strip
            value = unescape(re.sub(r"<[^>]*>", "\n", value))
    else:
        value = unescape(value)
    lines = (" ".join(line.split()) for line in value.splitlines())
    return "\n".join(line for line in lines if line)


def urls_in(value: str | None) -> tuple[str, ...]:
    """URLs in a reference field, also when a report glued them together without separators."""
    if not value:
        return ()
    found = [u.rstrip(".,;)") for u in _URL.findall(html_to_text(value))]
    return tuple(dict.fromkeys(u for u in found if len(u) > len("https://")))


def scrub_tokens(value: str) -> str:
    """Mask long token-like runs (session ids, API keys) in evidence a scanner quoted."""
    return _TOKEN.sub(lambda m: mask(m.group(0)), value)


def site_of(url: str) -> str:
    """`https://h:8443/a?b` -> `https://h:8443`; a bare `host:port` stays as it is."""
    url = url.strip()
    scheme = _SCHEME.search(url)
    if scheme:  # nuclei's javascript templates write "/http://host/"
        url = url[scheme.start():]
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return url.rstrip("/")


def category_for(cwes: Iterable[str], has_cve: bool = False) -> Category:
    """CVE -> vulnerability; a code weakness (XSS, SQLi, CSRF...) -> code; else misconfiguration."""
    if has_cve:
        return Category.VULNERABILITY
    cwes = [c for c in cwes if c]
    if cwes and not all(c in _CONFIG_CWES for c in cwes):
        return Category.CODE
    return Category.MISCONFIGURATION


def first_lines(text: str, limit: int) -> str:
    """Cut long prose at a line or word boundary so the instance list after it survives."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    boundary = max(cut.rfind("\n"), cut.rfind(". "))
    if boundary > limit // 2:
        cut = cut[: boundary + 1]
    return cut.rstrip() + " …"


class _Refused(Exception):
    pass


def parse_xml(data: bytes, source: str, *, allow_external_doctype: bool = False) -> ET.Element:
    """The root element of an XML report, refusing DTDs that could declare entities.

    expat drives an xml.etree TreeBuilder directly so the DOCTYPE and entity declarations are
    seen as events (as defusedxml does), not guessed from the text.
    """
    if not data.strip():
        raise ReportFormatError(source, "the report is empty")
    check_document_size(data, source)
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()

    def doctype(name: str, system_id: str | None, public_id: str | None, internal: int) -> None:
        if internal:
            raise _Refused("refusing XML with an internal DTD subset (entity declarations)")
        if not allow_external_doctype:
            raise _Refused("refusing XML with a <!DOCTYPE> declaration")

    def entity(*_args: object) -> None:
        raise _Refused("refusing XML that declares entities (<!ENTITY>)")

    def external(*_args: object) -> int:
        raise _Refused("refusing XML that references external entities")

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = external
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = lambda tag: builder.end(tag)
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
        root = builder.close()
    except _Refused as exc:
        raise ReportFormatError(source, str(exc)) from None
    except expat.ExpatError as exc:
        raise ReportFormatError(source, f"not well-formed XML: {expat.ErrorString(exc.code)} "
                                        f"at line {exc.lineno} column {exc.offset}") from None
    except (ValueError, RecursionError, AssertionError) as exc:
        raise ReportFormatError(source, f"unreadable XML: {exc}") from None
    if root is None:
        raise ReportFormatError(source, "the XML document has no root element")
    return root


def xml_text(element: ET.Element | None, path: str | None = None) -> str:
    """Text of an element (or of its child at `path`), whitespace folded per line."""
    if element is not None and path is not None:
        element = element.find(path)
    if element is None:
        return ""
    raw = "".join(element.itertext())
    lines = (line.strip() for line in raw.strip().splitlines())
    return "\n".join(line for line in lines if line)


def looks_like_xml(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<"
