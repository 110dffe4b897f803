"""Body rules: 10017, 10023, 10027, 10096, 10109, 10202, 90003, 90022."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Iterator
from urllib.parse import urlsplit

from secpipe.engines.baseline.message import Message
from secpipe.engines.baseline.rules import _patterns as P
from secpipe.engines.baseline.rules._registry import (
    CONF_HIGH,
    CONF_LOW,
    CONF_MEDIUM,
    INFO,
    LOW,
    MEDIUM,
    Hit,
    rule,
)


def _host_of(url: str) -> str | None:
    try:
        return (urlsplit(url.strip()).hostname or "").lower() or None
    except ValueError:
        return None


@rule(
    10017,
    name="Cross-Domain JavaScript Source File Inclusion",
    risk=LOW,
    confidence=CONF_MEDIUM,
    cwe=829,
    wasc=15,
    desc="The page includes one or more script files from a third-party domain.",
    solution="Ensure JavaScript source files are loaded from only trusted sources, and the "
    "sources can't be controlled by end users of the application.",
)
def cross_domain_script(msg: Message) -> Iterator[Hit]:
    """An HTML page with <script src> on another host and no integrity attribute."""
    if not msg.body or not msg.is_html:
        return
    for script in msg.doc.all("script"):
        src = script.get("src")
        if not src or (not src.startswith("//") and src.startswith(("/", "./", "../"))):
            continue
        host = _host_of(src)
        if host and host != msg.host and not (script.get("integrity") or "").strip():
            yield Hit(param=src, evidence=script.source)


@rule(
    10023,
    name="Information Disclosure - Debug Error Messages",
    risk=LOW,
    confidence=CONF_MEDIUM,
    cwe=200,
    wasc=13,
    desc="The response appeared to contain common error messages returned by platforms such as "
    "ASP.NET, and Web-servers such as IIS and Apache. You can configure the list of common debug "
    "messages.",
    solution="Disable debugging messages before pushing to production.",
)
def debug_errors(msg: Message) -> Iterator[Hit]:
    """A text (non-JS) body containing one of ZAP's debug-error-messages.txt strings."""
    if msg.is_javascript or not msg.body or not msg.is_text:
        return
    lowered = msg.text.lower()
    for needle in P.DEBUG_ERRORS:
        at = lowered.find(needle.lower())
        if at >= 0:
            yield Hit(evidence=msg.text[at : at + len(needle)])
            return


def _truncate(text: str) -> str:
    return text[:128]


@rule(
    10027,
    name="Information Disclosure - Suspicious Comments",
    risk=INFO,
    confidence=CONF_MEDIUM,
    cwe=200,
    wasc=13,
    desc="The response appears to contain suspicious comments which may help an attacker. Note: "
    "Matches made within script blocks or files are against the entire content not only "
    "comments.",
    solution="Remove all comments that return information that may help an attacker and fix any "
    "underlying problems they refer to.",
)
def suspicious_comments(msg: Message) -> Iterator[Hit]:
    """A word of ZAP's suspicious-comments.txt in an HTML comment, a <script>, or a JS file."""
    if not msg.body or not msg.is_text:
        return
    found: dict[str, list[tuple[str, int, str]]] = {}

    def scan(snippet: str, confidence: int) -> None:
        for label, pattern in P.SUSPICIOUS:
            match = pattern.search(snippet)
            if match:
                found.setdefault(label, []).append((snippet, confidence, match.group()))
                return

    if msg.is_javascript:
        for line in msg.text.split("\n"):
            scan(line, CONF_LOW)
    else:
        for comment in msg.doc.comments:
            scan(comment, CONF_MEDIUM)
        for script in msg.doc.all("script"):
            scan(script.source, CONF_LOW)
    for label, summaries in found.items():
        detail, confidence, evidence = summaries[0]
        if len(summaries) == 1:
            other = (
                f"The following pattern was used: {label} and was detected in the element "
                f"starting with: \"{_truncate(detail)}\", see evidence field for the suspicious "
                "comment/snippet."
            )
        else:
            other = (
                f"The following pattern was used: {label} and was detected {len(summaries)} "
                f"times, the first in the element starting with: \"{_truncate(detail)}\", see "
                "evidence field for the suspicious comment/snippet."
            )
        yield Hit(evidence=evidence, otherinfo=other, confidence=confidence)


_UNIX_TS = re.compile(r"\b(?:1\d|2[0-2])\d{8}\b(?!%)")
_TS_IGNORED_HEADERS = {
    "keep-alive", "cache-control", "etag", "age", "strict-transport-security", "report-to",
    "nel", "expect-ct", "ratelimit-reset", "x-ratelimit-reset", "x-rate-limit-reset",
}  # fmt: skip
_TEN_YEARS = 10 * 365 * 24 * 3600


@rule(
    10096,
    name="Timestamp Disclosure",
    alert="Timestamp Disclosure - Unix",
    risk=LOW,
    confidence=CONF_LOW,
    cwe=497,
    wasc=13,
    desc="A timestamp was disclosed by the application/web server. - Unix",
    solution="Manually confirm that the timestamp data is not sensitive, and that the data "
    "cannot be aggregated to disclose exploitable patterns.",
    reference="https://cwe.mitre.org/data/definitions/200.html",
)
def timestamps(msg: Message) -> Iterator[Hit]:
    """A 10-digit Unix time within ten years of now in a header (not cache/HSTS/...) or body."""
    if msg.is_font:
        return
    now = time.time()
    low, high = now - _TEN_YEARS, min(2147483647, now + _TEN_YEARS)
    headers = "".join(
        f"\n{k}: {v}" for k, v in msg.headers if k.lower() not in _TS_IGNORED_HEADERS
    )
    for haystack in (headers, msg.text):
        for match in _UNIX_TS.finditer(haystack):
            value = int(match.group())
            if low <= value <= high:
                when = datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                yield Hit(evidence=match.group(), otherinfo=f"{value}, which evaluates to: {when}.")


@rule(
    10109,
    name="Modern Web Application",
    risk=INFO,
    confidence=CONF_MEDIUM,
    cwe=-1,
    wasc=-1,
    desc="The application appears to be a modern web application. If you need to explore it "
    "automatically then the Ajax Spider may well be more effective than the standard one.",
    solution="This is an informational alert and so no changes are required.",
)
def modern_app(msg: Message) -> Iterator[Hit]:
    """An HTML page with scripts but no links, links without href or with target=_self, or
    a <noscript>."""
    if not msg.is_html:
        return
    evidence = other = ""
    links = msg.doc.all("a")
    if not links:
        scripts = msg.doc.all("script")
        if scripts:
            evidence = scripts[0].source
            other = "No links have been found while there are scripts, which is an indication " \
                "that this is a modern web application."  # fmt: skip
    for link in links:
        href = link.get("href")
        if not href or href == "#":
            evidence = link.source
            other = "Links have been found that do not have traditional href attributes, which " \
                "is an indication that this is a modern web application."  # fmt: skip
            break
        if link.get("target") == "_self":
            evidence = link.source
            other = "Links have been found with a target of '_self' - this is often used by " \
                "modern frameworks to force a full page reload."  # fmt: skip
            break
    if not evidence:
        noscript = msg.doc.first("noscript")
        if noscript is not None:
            evidence = noscript.source
            other = "A noScript tag has been found, which is an indication that the application " \
                "works differently with JavaScript enabled compared to when it is not."  # fmt: skip
    if evidence:
        yield Hit(evidence=evidence, otherinfo=other)


_CSRF_DESC = (
    "No Anti-CSRF tokens were found in a HTML submission form.\nA cross-site request forgery is "
    "an attack that involves forcing a victim to send an HTTP request to a target destination "
    "without their knowledge or intent in order to perform an action as the victim. The "
    "underlying cause is application functionality using predictable URL/form actions in a "
    "repeatable way. The nature of the attack is that CSRF exploits the trust that a web site has "
    "for a user. By contrast, cross-site scripting (XSS) exploits the trust that a user has for a "
    "web site. Like XSS, CSRF attacks are not necessarily cross-site, but they can be. Cross-site "
    "request forgery is also known as CSRF, XSRF, one-click attack, session riding, confused "
    "deputy, and sea surf.\n\nCSRF attacks are effective in a number of situations, including:\n"
    "    * The victim has an active session on the target site.\n    * The victim is "
    "authenticated via HTTP auth on the target site.\n    * The victim is on the same local "
    "network as the target site.\n\nCSRF has primarily been used to perform an action against a "
    "target site using the victim's privileges, but recent techniques have been discovered to "
    "disclose information by gaining access to the response. The risk of information disclosure "
    "is dramatically increased when the target site is vulnerable to XSS, because XSS can be "
    "used as a platform for CSRF, allowing the attack to operate within the bounds of the "
    "same-origin policy."
)
_CSRF_SOLN = (
    "Phase: Architecture and Design\nUse a vetted library or framework that does not allow this "
    "weakness to occur or provides constructs that make this weakness easier to avoid.\nFor "
    "example, use anti-CSRF packages such as the OWASP CSRFGuard.\n\nPhase: Implementation\n"
    "Ensure that your application is free of cross-site scripting issues, because most CSRF "
    "defenses can be bypassed using attacker-controlled script.\n\nPhase: Architecture and "
    "Design\nGenerate a unique nonce for each form, place the nonce into the form, and verify "
    "the nonce upon receipt of the form. Be sure that the nonce is not predictable (CWE-330).\n"
    "Note that this can be bypassed using XSS.\n\nIdentify especially dangerous operations. When "
    "the user performs a dangerous operation, send a separate confirmation request to ensure "
    "that the user intended to perform that operation.\nNote that this can be bypassed using "
    "XSS.\n\nUse the ESAPI Session Management control.\nThis control includes a component for "
    "CSRF.\n\nDo not use the GET method for any request that triggers a state change.\n\nPhase: "
    "Implementation\nCheck the HTTP Referer header to see if the request originated from an "
    "expected page. This could break legitimate functionality, because users or proxies may "
    "have disabled sending the Referer for privacy reasons."
)


@rule(
    10202,
    name="Absence of Anti-CSRF Tokens",
    risk=LOW,
    confidence=CONF_MEDIUM,
    cwe=352,
    wasc=9,
    desc=_CSRF_DESC,
    solution=_CSRF_SOLN,
    reference="http://projects.webappsec.org/Cross-Site-Request-Forgery\n"
    "http://cwe.mitre.org/data/definitions/352.html",
)
def anti_csrf(msg: Message) -> Iterator[Hit]:
    """An HTML <form> with no input whose name or id is a known anti-CSRF token name."""
    if not msg.is_html:
        return
    tokens = {t.lower() for t in P.ANTI_CSRF_TOKENS}
    listed = "[" + ", ".join(P.ANTI_CSRF_TOKENS) + "]"
    for number, form in enumerate(msg.doc.all("form"), start=1):
        names: dict[str, str] = {}
        found = False
        for field in msg.doc.within(form, "input"):
            ident, name = field.get("id"), field.get("name")
            for value in (ident, name):
                if value is not None and value.lower() in tokens:
                    found = True
            label = ident if ident is not None else name
            if label is not None:
                names.setdefault(label.lower(), label)
        if found:
            continue
        ordered = [names[k] for k in sorted(names)]
        details = f"[Form {number}: \"" + "\" \"".join(ordered) + "\" ]"
        yield Hit(
            evidence=form.start_tag,
            otherinfo=f"No known Anti-CSRF token {listed} was found in the following HTML "
            f"form: {details}.",
        )


@rule(
    90003,
    name="Sub Resource Integrity Attribute Missing",
    risk=MEDIUM,
    confidence=CONF_HIGH,
    cwe=345,
    wasc=15,
    desc="The integrity attribute is missing on a script or link tag served by an external "
    "server. The integrity tag prevents an attacker who have gained access to this server from "
    "injecting a malicious content.",
    solution="Provide a valid integrity attribute to the tag.",
    reference="https://developer.mozilla.org/en-US/docs/Web/Security/Subresource_Integrity",
)
def sub_resource_integrity(msg: Message) -> Iterator[Hit]:
    """A <script src> or stylesheet/preload <link> on another host without integrity."""
    if not msg.is_html:
        return
    for element in msg.doc.all("script", "link"):
        if element.tag == "link":
            rel = element.get("rel")
            if rel is not None and not {"stylesheet", "preload", "modulepreload"} & set(
                rel.lower().split()
            ):
                continue
        url = element.get("src" if element.tag == "script" else "href")
        if not url or url.startswith("data:") or element.get("integrity") is not None:
            continue
        host = _host_of(url)
        if host and host != msg.host:
            yield Hit(evidence=element.source)


@rule(
    90022,
    name="Application Error Disclosure",
    risk=MEDIUM,
    confidence=CONF_MEDIUM,
    cwe=200,
    wasc=13,
    desc="This page contains an error/warning message that may disclose sensitive information "
    "like the location of the file that produced the unhandled exception. This information can "
    "be used to launch further attacks against the web application. The alert could be a false "
    "positive if the error message is found inside a documentation page.",
    solution="Review the source code of this page. Implement custom error pages. Consider "
    "implementing a mechanism to provide a unique error reference/identifier to the client "
    "(browser) while logging the details on the server side and not exposing them to the user.",
)
def application_errors(msg: Message) -> Iterator[Hit]:
    """An HTTP 500 (Low), or a non-404 body holding a known error message/stack trace (Medium)."""
    if msg.status == 500:
        yield Hit(evidence=msg.prime_header, risk=LOW)
        return
    if msg.status == 404 or "application/wasm" in msg.content_type:
        return
    body = msg.text
    for needle in P.EXTRA_APPLICATION_ERRORS + P.APPLICATION_ERROR_STRINGS:
        if needle in body:
            yield Hit(evidence=needle)
            return
    for pattern in P.APPLICATION_ERROR_REGEXES:
        match = pattern.search(body)
        if match:
            yield Hit(evidence=match.group())
            return
