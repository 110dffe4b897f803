"""Scanned text made inert wherever secpipe shows it: one rule for reports, terminal, dashboard.

A finding's title or description is whatever a scanned file or a remote server said. Shown raw,
it can drive the reader's terminal (ANSI CSI sequences clear the screen or repaint a verdict;
OSC sequences set the window title, write the clipboard or hide a link behind other text),
or reorder what is read (bidi embeddings, overrides and isolates, "Trojan Source",
CVE-2021-42574: `exe.txt` shown for `txt.exe`). Escape sequences are removed whole, not just
their ESC, so no half-sequence is left for the reader to puzzle over; other control characters
go; bidi controls become a visible U+FFFD, so a reader sees that something was there.
"""

from __future__ import annotations

import re

# CSI (7- and 8-bit), OSC / DCS / SOS / PM / APC strings up to their terminator (BEL or ST),
# and the remaining two-byte escapes (ESC 7, ESC c, charset selection ESC ( B ...).
ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
# Characters XML 1.0 forbids outright (even as character references); HTML calls them parse
# errors. The C1 controls (U+0080-U+009F) are legal XML but a terminal reads U+009B as CSI.
INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Bidi embeddings, overrides, isolates and the invisible direction marks.
BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Every control character, line breaks and tabs included: a terminal table cell is one line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
# The ASCII characters `clean` removes (with ESC, which starts every 7-bit escape sequence).
_ASCII_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: object) -> str:
    """For XML 1.0, HTML, SARIF and the dashboard (their serialisers escape the rest): no
    escape sequence, no control character but tab and line breaks, bidi controls as U+FFFD."""
    out = "" if text is None else str(text)
    # the common case, ASCII without a control character but tab and line breaks: every
    # pattern below needs a control character (ESC included) or non-ASCII to match
    if out.isascii() and (out.isprintable() or not _ASCII_CONTROL.search(out)):
        return out
    # printable text (non-ASCII too: a masked secret's "…") holds nothing the patterns match:
    # every character they remove or replace is a control, format (bidi), surrogate or
    # non-character, none of which str.isprintable accepts
    if out.isprintable():
        return out
    # printable but for its line breaks and tabs (a report's multi-line text with a "…"),
    # which clean keeps: the same reasoning, without them
    if out.replace("\n", "").replace("\t", "").replace("\r", "").isprintable():
        return out
    return BIDI.sub("\ufffd", INVALID_XML.sub("", ESCAPES.sub("", out)))


def one_line(text: object, limit: int | None = None) -> str:
    """For a terminal: no escape sequence, every control character (line breaks too) one
    space, bidi controls as U+FFFD, cut to `limit` characters with `…`."""
    out = "" if text is None else str(text)
    out = BIDI.sub("\ufffd", _CONTROL.sub(" ", ESCAPES.sub("", out)))
    if limit is not None and len(out) > limit:
        out = out[:limit - 1] + "…"
    return out
