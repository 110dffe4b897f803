"""A forgiving, offset-keeping HTML reader for the passive rules (stdlib `html.parser`).

ZAP's rules run over Jericho's parse and quote whole elements as evidence (`<script
src=...></script>`), so this keeps each element's source span, not just its attributes: the
evidence a rule reports is then a verbatim slice of the response. Malformed markup never
raises; an element whose end tag is missing spans only its start tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()
)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    start: int
    start_end: int
    end: int = -1
    doc: "HtmlDoc | None" = field(default=None, repr=False, compare=False)

    def get(self, name: str) -> str | None:
        """An attribute's value (None when absent; '' for a bare attribute)."""
        value = self.attrs.get(name, None)
        if value is None and name in self.attrs:
            return ""
        return value

    @property
    def start_tag(self) -> str:
        return self.doc.text[self.start : self.start_end] if self.doc else ""

    @property
    def source(self) -> str:
        """The element's whole source, start tag to end tag (just the start tag if unclosed)."""
        if not self.doc:
            return ""
        end = self.end if self.end > 0 else self.start_end
        return self.doc.text[self.start : end]

    @property
    def inner(self) -> str:
        if not self.doc or self.end <= 0:
            return ""
        close = self.doc.text.rfind("</", self.start_end, self.end)
        return self.doc.text[self.start_end : close if close >= 0 else self.end]


class HtmlDoc:
    """Elements (in document order) and comments of one HTML text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.elements: list[Element] = []
        self.comments: list[str] = []
        _Reader(self).run()

    def all(self, *tags: str) -> list[Element]:
        wanted = {t.lower() for t in tags}
        return [e for e in self.elements if e.tag in wanted]

    def first(self, tag: str) -> Element | None:
        for element in self.elements:
            if element.tag == tag:
                return element
        return None

    def within(self, outer: Element, *tags: str) -> list[Element]:
        """Elements of `tags` that start inside `outer` (e.g. a form's inputs)."""
        end = outer.end if outer.end > 0 else len(self.text)
        wanted = {t.lower() for t in tags}
        return [e for e in self.elements if e.tag in wanted and outer.start < e.start < end]

    def meta_http_equiv(self, name: str) -> list[Element]:
        lower = name.lower()
        return [
            m for m in self.all("meta") if (m.get("http-equiv") or "").strip().lower() == lower
        ]


class _Reader(HTMLParser):
    def __init__(self, doc: HtmlDoc) -> None:
        super().__init__(convert_charrefs=True)
        self.doc = doc
        self.open: list[Element] = []
        starts = [0]
        text = doc.text
        pos = text.find("\n")
        while pos >= 0:
            starts.append(pos + 1)
            pos = text.find("\n", pos + 1)
        self.line_starts = starts

    def run(self) -> None:
        try:
            self.feed(self.doc.text)
            self.close()
        except Exception:  # noqa: BLE001 - html.parser can choke on pathological input
            pass  # keep whatever was read so far: a passive rule must never crash a scan

    def _offset(self) -> int:
        line, col = self.getpos()
        if 0 < line <= len(self.line_starts):
            return self.line_starts[line - 1] + col
        return len(self.doc.text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self._offset()
        raw = self.get_starttag_text() or ""
        values: dict[str, str | None] = {}
        for name, value in attrs:
            values.setdefault(name.lower(), value)
        element = Element(tag.lower(), values, start, start + len(raw), doc=self.doc)
        self.doc.elements.append(element)
        if element.tag in VOID or raw.endswith("/>"):
            element.end = element.start_end
        else:
            self.open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        element = self.doc.elements[-1]
        element.end = element.start_end
        if self.open and self.open[-1] is element:
            self.open.pop()

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        pos = self._offset()
        close = self.doc.text.find(">", pos)
        end = close + 1 if close >= 0 else len(self.doc.text)
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index].tag == tag:
                for element in self.open[index:]:
                    element.end = end if element is self.open[index] else -1
                del self.open[index:]
                return

    def handle_comment(self, data: str) -> None:
        self.doc.comments.append(f"<!--{data}-->")

