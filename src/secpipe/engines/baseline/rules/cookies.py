"""Cookie rules: 10010 HttpOnly, 10011 Secure (HTTPS only), 10054 SameSite.

Like ZAP's CookieUtils: every Set-Cookie (and Set-Cookie2) header is one cookie, attribute
names compare case-insensitively, and cookies already expired (a deletion) are skipped. The
evidence is the header name plus the cookie name, never the cookie's value.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Iterator

from secpipe.engines.baseline.message import Message
from secpipe.engines.baseline.rules._registry import CONF_MEDIUM, LOW, Hit, rule


def _set_cookies(msg: Message) -> Iterator[tuple[str, str]]:
    for header in ("Set-Cookie", "Set-Cookie2"):
        for value in msg.header_values(header):
            yield header, value


def cookie_name(value: str) -> str:
    return value.split(";", 1)[0].split("=", 1)[0].strip()


def attributes(value: str) -> dict[str, str]:
    """Lower-cased attribute names -> values ('' for flags) of one Set-Cookie value."""
    out: dict[str, str] = {}
    for part in value.split(";")[1:]:
        key, _, val = part.partition("=")
        if key.strip():
            out.setdefault(key.strip().lower(), val.strip())
    return out


def is_expired(value: str) -> bool:
    attrs = attributes(value)
    max_age = attrs.get("max-age")
    if max_age is not None:
        try:
            return int(max_age) <= 0
        except ValueError:
            pass
    expires = attrs.get("expires")
    if expires:
        try:
            when = parsedate_to_datetime(expires)
        except (TypeError, ValueError, IndexError):
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when < datetime.now(timezone.utc)
    return False


def _evidence(header: str, value: str) -> str:
    return f"{header}: {cookie_name(value)}"


@rule(
    10010,
    name="Cookie No HttpOnly Flag",
    risk=LOW,
    confidence=CONF_MEDIUM,
    cwe=1004,
    wasc=13,
    desc="A cookie has been set without the HttpOnly flag, which means that the cookie can be "
    "accessed by JavaScript. If a malicious script can be run on this page then the cookie will "
    "be accessible and can be transmitted to another site. If this is a session cookie then "
    "session hijacking may be possible.",
    solution="Ensure that the HttpOnly flag is set for all cookies.",
    reference="https://owasp.org/www-community/HttpOnly",
)
def cookie_http_only(msg: Message) -> Iterator[Hit]:
    """A live Set-Cookie without the HttpOnly attribute (any scheme)."""
    for header, value in _set_cookies(msg):
        if "httponly" not in attributes(value) and not is_expired(value):
            yield Hit(param=cookie_name(value), evidence=_evidence(header, value))


@rule(
    10011,
    name="Cookie Without Secure Flag",
    risk=LOW,
    confidence=CONF_MEDIUM,
    cwe=614,
    wasc=13,
    desc="A cookie has been set without the secure flag, which means that the cookie can be "
    "accessed via unencrypted connections.",
    solution="Whenever a cookie contains sensitive information or is a session token, then it "
    "should always be passed using an encrypted channel. Ensure that the secure flag is set for "
    "cookies containing such sensitive information.",
    reference="https://owasp.org/www-project-web-security-testing-guide/v41/4-Web_Application_"
    "Security_Testing/06-Session_Management_Testing/02-Testing_for_Cookies_Attributes.html",
)
def cookie_secure(msg: Message) -> Iterator[Hit]:
    """A live Set-Cookie without the Secure attribute on an HTTPS response (ZAP skips HTTP)."""
    if not msg.is_https:
        return
    for header, value in _set_cookies(msg):
        if "secure" not in attributes(value) and not is_expired(value):
            yield Hit(param=cookie_name(value), evidence=_evidence(header, value))


_SAMESITE_REFS = "https://tools.ietf.org/html/draft-ietf-httpbis-cookie-same-site"


@rule(
    10054,
    name="Cookie without SameSite Attribute",
    risk=LOW,
    confidence=CONF_MEDIUM,
    cwe=1275,
    wasc=13,
    desc="A cookie has been set without the SameSite attribute, which means that the cookie can "
    "be sent as a result of a 'cross-site' request. The SameSite attribute is an effective "
    "counter measure to cross-site request forgery, cross-site script inclusion, and timing "
    "attacks.",
    solution="Ensure that the SameSite attribute is set to either 'lax' or ideally 'strict' for "
    "all cookies.",
    reference=_SAMESITE_REFS,
)
def cookie_same_site(msg: Message) -> Iterator[Hit]:
    """A live Set-Cookie whose SameSite is missing (-1), None (-2) or not Strict/Lax (-3)."""
    for header, value in _set_cookies(msg):
        if is_expired(value):
            continue
        same_site = attributes(value).get("samesite")
        evidence = _evidence(header, value)
        name = cookie_name(value)
        if same_site is None:
            yield Hit(param=name, evidence=evidence, ref="1")
        elif same_site.lower() == "none":
            yield Hit(
                param=name,
                evidence=evidence,
                ref="2",
                name="Cookie with SameSite Attribute None",
                desc="A cookie has been set with its SameSite attribute set to \"none\", which "
                "means that the cookie can be sent as a result of a 'cross-site' request. The "
                "SameSite attribute is an effective counter measure to cross-site request "
                "forgery, cross-site script inclusion, and timing attacks.",
            )
        elif same_site.lower() not in ("strict", "lax"):
            yield Hit(
                param=name,
                evidence=evidence,
                ref="3",
                name="Cookie with Invalid SameSite Attribute",
                desc="A cookie has been set with an invalid SameSite attribute value, which "
                "means that the cookie can be sent as a result of a 'cross-site' request. The "
                "SameSite attribute is an effective counter measure to cross-site request "
                "forgery, cross-site script inclusion, and timing attacks.",
            )
