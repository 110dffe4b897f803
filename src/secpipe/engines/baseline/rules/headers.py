"""Response-header rules: 10019, 10020, 10021, 10035, 10036, 10037, 10098.

Each follows ZAP's rule at its default (MEDIUM) threshold: which responses it looks at
(HTML only, non-error only, HTTPS only, ...) is as much the rule as the header test.
"""

from __future__ import annotations

import re
from typing import Iterator
from urllib.parse import urlsplit

from secpipe.engines.baseline.message import Message
from secpipe.engines.baseline.rules._registry import (
    CONF_HIGH,
    CONF_MEDIUM,
    INFO,
    LOW,
    MEDIUM,
    Hit,
    rule,
)


@rule(
    10019,
    name="Content-Type Header Missing",
    risk=INFO,
    confidence=CONF_MEDIUM,
    cwe=345,
    wasc=12,
    desc="The Content-Type header was either missing or empty.",
    solution="Ensure each page is setting the specific and appropriate content-type value for "
    "the content being delivered.",
    reference="https://learn.microsoft.com/en-us/previous-versions/windows/internet-explorer/"
    "ie-developer/compatibility/gg622941(v=vs.85)",
)
def content_type_missing(msg: Message) -> Iterator[Hit]:
    """A response with a body and no Content-Type header, or an empty one."""
    if not msg.body:
        return
    values = msg.header_values("Content-Type")
    if not values:
        yield Hit()
    for value in values:
        if not value.strip():
            yield Hit(name="Content-Type Header Empty")


_XFO = "X-Frame-Options"
_XFO_SOLN = (
    "Modern Web browsers support the Content-Security-Policy and X-Frame-Options HTTP headers. "
    "Ensure one of them is set on all web pages returned by your site/app.\nIf you expect the "
    "page to be framed only by pages on your server (e.g. it's part of a FRAMESET) then you'll "
    "want to use SAMEORIGIN, otherwise if you never expect the page to be framed, you should use "
    "DENY. Alternatively consider implementing Content Security Policy's \"frame-ancestors\" "
    "directive."
)


@rule(
    10020,
    name="Anti-clickjacking Header",
    alert="Missing Anti-clickjacking Header",
    risk=MEDIUM,
    confidence=CONF_MEDIUM,
    cwe=1021,
    wasc=15,
    desc="The response does not include either Content-Security-Policy with 'frame-ancestors' "
    "directive or X-Frame-Options to protect against 'ClickJacking' attacks.",
    solution=_XFO_SOLN,
    reference="https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/X-Frame-Options",
)
def anti_clickjacking(msg: Message) -> Iterator[Hit]:
    """A non-error, non-redirect HTML page without X-Frame-Options nor CSP frame-ancestors."""
    if not msg.is_html or not msg.body or not msg.is_text or msg.is_error or msg.is_redirect:
        return
    if any("frame-ancestors" in v for v in msg.header_values("Content-Security-Policy")):
        return  # CSP takes precedence
    values = msg.header_values(_XFO)
    for value in values:
        if "deny" not in value.lower() and "sameorigin" not in value.lower():
            yield Hit(
                param=_XFO,
                evidence=value,
                ref="4",
                name="X-Frame-Options Setting Malformed",
                desc="An X-Frame-Options header was present in the response but the value was "
                "not correctly set.",
                reference="https://tools.ietf.org/html/rfc7034#section-2.1",
            )
    if len(values) > 1:
        yield Hit(
            param=_XFO,
            ref="2",
            name="Multiple X-Frame-Options Header Entries",
            desc="X-Frame-Options (XFO) headers were found, a response with multiple XFO header "
            "entries may not be predictably treated by all user-agents.",
            solution="Ensure only a single X-Frame-Options header is present in the response.",
            reference="https://tools.ietf.org/html/rfc7034",
        )
    if not values:
        yield Hit(param=_XFO, ref="1")
    for meta in msg.doc.meta_http_equiv(_XFO):
        yield Hit(
            param=_XFO,
            evidence=meta.source,
            ref="3",
            name="X-Frame-Options Defined via META (Non-compliant with Spec)",
            desc="An X-Frame-Options (XFO) META tag was found, defining XFO via a META tag is "
            "explicitly not supported by the spec (RFC 7034).",
            solution="Ensure X-Frame-Options is set via a response header field.  Alternatively "
            "consider implementing Content Security Policy's \"frame-ancestors\" directive.",
            reference="https://tools.ietf.org/html/rfc7034#section-4",
        )
        break


@rule(
    10021,
    name="X-Content-Type-Options Header Missing",
    risk=LOW,
    confidence=CONF_MEDIUM,
    cwe=693,
    wasc=15,
    desc="The Anti-MIME-Sniffing header X-Content-Type-Options was not set to 'nosniff'. This "
    "allows older versions of Internet Explorer and Chrome to perform MIME-sniffing on the "
    "response body, potentially causing the response body to be interpreted and displayed as a "
    "content type other than the declared content type. Current (early 2014) and legacy versions "
    "of Firefox will use the declared content type (if one is set), rather than performing "
    "MIME-sniffing.",
    solution="Ensure that the application/web server sets the Content-Type header "
    "appropriately, and that it sets the X-Content-Type-Options header to 'nosniff' for all web "
    "pages.\nIf possible, ensure that the end user uses a standards-compliant and modern web "
    "browser that does not perform MIME-sniffing at all, or that can be directed by the web "
    "application/web server to not perform MIME-sniffing.",
    reference="https://learn.microsoft.com/en-us/previous-versions/windows/internet-explorer/"
    "ie-developer/compatibility/gg622941(v=vs.85)\nhttps://owasp.org/www-community/"
    "Security_Headers",
)
def x_content_type_options(msg: Message) -> Iterator[Hit]:
    """A non-error, non-redirect response with a body and no `X-Content-Type-Options: nosniff`."""
    if not msg.body or msg.is_error or msg.is_redirect:
        return
    other = (
        "This issue still applies to error type pages (401, 403, 500, etc.) as those pages are "
        "often still affected by injection issues, in which case there is still concern for "
        "browsers sniffing pages away from their actual content type.\nAt \"High\" threshold "
        "this scan rule will not alert on client or server error responses."
    )
    values = msg.header_values("X-Content-Type-Options")
    if not values:
        yield Hit(param="X-Content-Type-Options", otherinfo=other)
    for value in values:
        if "nosniff" not in value.lower():
            yield Hit(param="X-Content-Type-Options", evidence=value, otherinfo=other)


_HSTS = "Strict-Transport-Security"
_HSTS_DESC = (
    "HTTP Strict Transport Security (HSTS) is a web security policy mechanism whereby a web "
    "server declares that complying user agents (such as a web browser) are to interact with it "
    "using only secure HTTPS connections (i.e. HTTP layered over TLS/SSL)."
)
_HSTS_REVIEW = (
    "Review the configuration of this control. Ensure that your web server, application server, "
    "load balancer, etc. is configured to set Strict-Transport-Security with an appropriate "
)
_BAD_MAX_AGE = re.compile(r"\bmax-age\s*=\s*'*\"*\s*0\s*\"*'*\s*", re.I)
_MAX_AGE = re.compile(r"\bmax-age\s*=\s*'*\"*\s*\d+\s*\"*'*\s*", re.I)
_MALFORMED_MAX_AGE = re.compile(r"['+|\"+]\s*max", re.I)
_PRINTABLE = re.compile(r"[\x20-\x7e]*")


def _same_origin_https_redirect(msg: Message) -> bool:
    location = msg.header("Location") or ""
    try:
        target = urlsplit(location)
    except ValueError:
        return False
    if not target.scheme and not target.netloc:
        return True  # relative
    return (
        target.scheme.lower() == "https"
        and (target.hostname or "").lower() == msg.host
        and (target.port or 443) == (msg.parts.port or 443)
    )


@rule(
    10035,
    name="Strict-Transport-Security Header",
    alert="Strict-Transport-Security Header Not Set",
    risk=LOW,
    confidence=CONF_HIGH,
    cwe=319,
    wasc=15,
    desc=_HSTS_DESC + " HSTS is an IETF standards track protocol and is specified in RFC 6797.",
    solution="Ensure that your web server, application server, load balancer, etc. is "
    "configured to enforce Strict-Transport-Security.",
    reference="https://cheatsheetseries.owasp.org/cheatsheets/HTTP_Strict_Transport_Security_"
    "Cheat_Sheet.html\nhttps://owasp.org/www-community/Security_Headers\nhttps://en.wikipedia.org/"
    "wiki/HTTP_Strict_Transport_Security\nhttps://caniuse.com/stricttransportsecurity\n"
    "https://datatracker.ietf.org/doc/html/rfc6797",
)
def strict_transport_security(msg: Message) -> Iterator[Hit]:
    """HTTPS response without HSTS (-1), or with max-age=0 (-2), repeats, no/odd max-age."""
    values = msg.header_values(_HSTS)
    if msg.is_https:
        if not values:
            if not (msg.is_redirect and _same_origin_https_redirect(msg)):
                yield Hit(ref="1")
        elif len(values) > 1:
            yield Hit(
                ref="3",
                name="Strict-Transport-Security Multiple Header Entries (Non-compliant with Spec)",
                desc="HTTP Strict Transport Security (HSTS) headers were found, a response with "
                "multiple HSTS header entries is not compliant with the specification (RFC 6797) "
                "and only the first HSTS header will be processed others will be ignored by user "
                "agents or the HSTS policy may be incorrectly applied.\n" + _HSTS_DESC,
                solution="Ensure that only one component in your stack: code, web server, "
                "application server, load balancer, etc. is configured to set or add a HTTP "
                "Strict-Transport-Security (HSTS) header.",
                reference="https://datatracker.ietf.org/doc/html/rfc6797#section-8.1",
            )
        else:
            value = values[0]
            bad_age = _BAD_MAX_AGE.search(value)
            if not _PRINTABLE.fullmatch(value):
                yield Hit(
                    evidence=_HSTS,
                    ref="8",
                    name="Strict-Transport-Security Malformed Content (Non-compliant with Spec)",
                    desc="A HTTP Strict Transport Security (HSTS) header was found, but it "
                    "contains some content that was not expected (perhaps curly quotes), the "
                    "expectation is that the content be printable ASCII characters.",
                    solution=_HSTS_REVIEW + "content.",
                    reference="https://datatracker.ietf.org/doc/html/rfc6797",
                )
            elif bad_age:
                yield Hit(
                    evidence=bad_age.group(),
                    ref="2",
                    name="Strict-Transport-Security Disabled",
                    desc="A HTTP Strict Transport Security (HSTS) header was found, but it "
                    "contains the directive max-age=0 which disables the control and instructs "
                    "browsers to reset any previous HSTS related settings. See RFC 6797 for "
                    "further details.\n" + _HSTS_DESC,
                    solution=_HSTS_REVIEW + "max-age value.",
                    reference="https://datatracker.ietf.org/doc/html/rfc6797#section-6.2",
                )
            elif not _MAX_AGE.search(value):
                yield Hit(
                    evidence=value,
                    ref="5",
                    name="Strict-Transport-Security Missing Max-Age (Non-compliant with Spec)",
                    desc="A HTTP Strict Transport Security (HSTS) header was found, but it is "
                    "missing the max-age directive (or the directive is missing a value). See RFC "
                    "6797 for further details.\n" + _HSTS_DESC,
                    solution=_HSTS_REVIEW + "max-age value.",
                    reference="https://datatracker.ietf.org/doc/html/rfc6797#section-6.2",
                )
            elif _MALFORMED_MAX_AGE.search(value):
                yield Hit(
                    evidence=value,
                    ref="7",
                    name="Strict-Transport-Security Max-Age Malformed (Non-compliant with Spec)",
                    desc="A HTTP Strict Transport Security (HSTS) header was found, but it "
                    "contains quotes preceding the max-age directive (the max-age value can be "
                    "quoted, but the directive itself cannot be). See RFC 6797 for further "
                    "details.\n" + _HSTS_DESC,
                    solution=_HSTS_REVIEW + "format.",
                    reference="https://datatracker.ietf.org/doc/html/rfc6797#section-6.1",
                )
    if msg.is_html and msg.doc.meta_http_equiv(_HSTS):
        yield Hit(
            evidence=_HSTS,
            ref="6",
            name="Strict-Transport-Security Defined via META (Non-compliant with Spec)",
            desc="A HTTP Strict Transport Security (HSTS) META tag was found, defining HTTP "
            "Strict Transport Security (HSTS) via a META tag is explicitly not supported by the "
            "spec (RFC 6797).",
            solution="Do not attempt to set HTTP Strict Transport Security (HSTS) via a META tag.",
            reference="https://datatracker.ietf.org/doc/html/rfc6797#section-8.5",
        )


@rule(
    10036,
    name="HTTP Server Response Header",
    alert='Server Leaks Version Information via "Server" HTTP Response Header Field',
    risk=LOW,
    confidence=CONF_HIGH,
    cwe=497,
    wasc=13,
    desc="The web/application server is leaking version information via the \"Server\" HTTP "
    "response header. Access to such information may facilitate attackers identifying other "
    "vulnerabilities your web/application server is subject to.",
    solution="Ensure that your web server, application server, load balancer, etc. is "
    "configured to suppress the \"Server\" header or provide generic details.",
    reference="https://httpd.apache.org/docs/current/mod/core.html#servertokens\n"
    "https://learn.microsoft.com/en-us/previous-versions/msp-n-p/ff648552(v=pandp.10)\n"
    "https://www.troyhunt.com/shhh-dont-let-your-response-headers/",
)
def server_header(msg: Message) -> Iterator[Hit]:
    """A Server header holding a digit (a version); a bare product name only alerts at LOW."""
    for value in msg.header_values("Server"):
        if re.search(r"\d", value):
            yield Hit(evidence=value, ref="2")


@rule(
    10037,
    name='Server Leaks Information via "X-Powered-By" HTTP Response Header Field(s)',
    risk=LOW,
    confidence=CONF_MEDIUM,
    cwe=200,
    wasc=13,
    desc="The web/application server is leaking information via one or more \"X-Powered-By\" "
    "HTTP response headers. Access to such information may facilitate attackers identifying "
    "other frameworks/components your web application is reliant upon and the vulnerabilities "
    "such components may be subject to.",
    solution="Ensure that your web server, application server, load balancer, etc. is "
    "configured to suppress \"X-Powered-By\" headers.",
    reference="https://owasp.org/www-project-web-security-testing-guide/v42/4-Web_Application_"
    "Security_Testing/01-Information_Gathering/08-Fingerprint_Web_Application_Framework\n"
    "https://www.troyhunt.com/2012/02/shhh-dont-let-your-response-headers.html",
)
def x_powered_by(msg: Message) -> Iterator[Hit]:
    """Any X-Powered-By header; the first is the evidence, others go to other info."""
    lines = [f"{k}: {v}" for k, v in msg.headers if k.lower() == "x-powered-by"]
    if lines:
        other = ""
        if len(lines) > 1:
            other = "The following X-Powered-By headers were also found:\n" + "\n".join(lines[1:])
        yield Hit(evidence=lines[0], otherinfo=other)


@rule(
    10098,
    name="Cross-Domain Misconfiguration",
    risk=MEDIUM,
    confidence=CONF_MEDIUM,
    cwe=264,
    wasc=14,
    desc="Web browser data loading may be possible, due to a Cross Origin Resource Sharing "
    "(CORS) misconfiguration on the web server.",
    solution="Ensure that sensitive data is not available in an unauthenticated manner (using IP "
    "address white-listing, for instance).\nConfigure the \"Access-Control-Allow-Origin\" HTTP "
    "header to a more restrictive set of domains, or remove all CORS headers entirely, to allow "
    "the web browser to enforce the Same Origin Policy (SOP) in a more restrictive manner.",
    reference="https://vulncat.fortify.com/en/detail?id=desc.config.dotnet.html5_overly_"
    "permissive_cors_policy",
)
def cross_domain(msg: Message) -> Iterator[Hit]:
    """`Access-Control-Allow-Origin: *` on any response."""
    if (msg.header("Access-Control-Allow-Origin") or "").strip() == "*":
        yield Hit(
            evidence=msg.header_line("Access-Control-Allow-Origin"),
            otherinfo="The CORS misconfiguration on the web server permits cross-domain read "
            "requests from arbitrary third party domains, using unauthenticated APIs on this "
            "domain. Web browser implementations do not permit arbitrary third parties to read "
            "the response from authenticated APIs, however. This reduces the risk somewhat. This "
            "misconfiguration could be used by an attacker to access data that is available in "
            "an unauthenticated manner, but which uses some other form of security, such as IP "
            "address white-listing.",
        )
