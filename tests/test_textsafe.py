"""One rule for scanned text shown anywhere (secpipe.textsafe), and ASFF's links are web links."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secpipe.model import Finding, Severity, SourceContext, Vulnerability, to_asff, validate_asff
from secpipe.textsafe import clean, one_line

ACTIVE = set(range(0x00, 0x09)) | set(range(0x0b, 0x20)) | set(range(0x7f, 0xa0)) | {
    0x061c, 0x200e, 0x200f, *range(0x202a, 0x202f), *range(0x2066, 0x206a)}


@pytest.mark.parametrize("raw, shown", [
    ("\x1b[2J\x1b[32mGate passed\x1b[0m", "Gate passed"),
    ("\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07", "click"),          # OSC 8 link
    ("\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07copy", "copy"),                        # clipboard write
    ("\x1b]0;title\x1b\\text", "text"),                                         # ST-terminated
    ("a\x9b31mb", "ab"),                                                        # 8-bit CSI
    ("\x1bcreset", "reset"),                                                    # ESC c
    ("\u202eexe.txt\u202c", "\ufffdexe.txt\ufffd"),
    ("\u2066iso\u2069 \u200fend", "\ufffdiso\ufffd \ufffdend"),
])
def test_sequences_go_whole_and_bidi_shows(raw: str, shown: str) -> None:
    assert clean(raw) == shown
    assert one_line(raw) == shown


def test_line_breaks_stay_in_documents_and_fold_on_a_terminal() -> None:
    assert clean("one\n\ttwo\r\n") == "one\n\ttwo\r\n"
    assert one_line("one\n\ttwo\r\n") == "one two "
    assert one_line("x" * 100, 10) == "x" * 9 + "…"
    assert clean("bell\x07 back\x08") == "bell back"          # a document drops them
    assert one_line("bell\x07 back\x08") == "bell  back "      # a terminal cell shows a gap


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_nothing_active_survives(text: str) -> None:
    assert {ord(c) for c in clean(text)} & ACTIVE <= {0x09, 0x0a, 0x0d}   # tab, line breaks
    assert not {ord(c) for c in one_line(text)} & ACTIVE


CTX = SourceContext(repo="acme/web", run_id="r1", stage="sast", observed_at="2024-06-01T00:00:00Z")


def test_asff_keeps_only_web_links() -> None:
    finding = Finding(
        tool="semgrep", rule_id="r", title="t", severity=Severity.HIGH,
        remediation="Fix it.", remediation_url="javascript:alert(document.cookie)",
        references=("https://cwe.mitre.org/data/definitions/79.html", "javascript:alert(1)",
                    "data:text/html,<script>alert(1)</script>", "file:///etc/passwd",
                    " JAVASCRIPT:alert(1)", "http://", "vbscript:msgbox(1)"),
        vulnerabilities=(Vulnerability(id="CVE-2024-1", urls=(
            "https://nvd.nist.gov/vuln/detail/CVE-2024-1", "javascript:void(0)")),),
    )
    obj = to_asff(finding, CTX)
    assert validate_asff(obj) == []
    assert "Url" not in obj["Remediation"]["Recommendation"]
    assert obj["Remediation"]["Recommendation"]["Text"] == "Fix it."
    assert obj["ProductFields"]["secpipe/References"] == \
        "https://cwe.mitre.org/data/definitions/79.html"
    assert obj["Vulnerabilities"][0]["ReferenceUrls"] == [
        "https://nvd.nist.gov/vuln/detail/CVE-2024-1"]
    text = json.dumps(obj).lower()
    for scheme in ("javascript:", "data:", "file:", "vbscript:"):
        assert scheme not in text
    good = finding.with_(remediation_url="https://owasp.org/x")
    assert to_asff(good, CTX)["Remediation"]["Recommendation"]["Url"] == "https://owasp.org/x"


def test_clean_fast_path_for_printable_text_agrees_with_the_patterns() -> None:
    """clean() returns printable text unchanged without running its patterns: true only while
    no pattern matches a printable character. Checked for every code point (with a non-ASCII
    neighbour, so the ASCII fast path is not the one taken)."""
    from secpipe.textsafe import BIDI, ESCAPES, INVALID_XML

    for i in range(0x110000):
        for text in ("…" + chr(i), "…\n" + chr(i) + "\t\r"):   # line breaks kept: 2nd path
            slow = BIDI.sub("\ufffd", INVALID_XML.sub("", ESCAPES.sub("", text)))
            assert clean(text) == slow, hex(i)
