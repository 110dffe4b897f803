"""Caching rules: 10015 (Cache-Control directives, HTTPS only) and 10049 (cacheability).

10049 is ZAP's RFC 7234 walk and, like ZAP, it raises exactly one of its three informational
alerts on every response: Non-Storable (-1), Storable but Non-Cacheable (-2), or Storable and
Cacheable (-3). Only -3 says that a shared cache may serve the content to another user.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Iterator

from secpipe.engines.baseline.message import Message
from secpipe.engines.baseline.rules._registry import CONF_LOW, CONF_MEDIUM, INFO, Hit, rule


@rule(
    10015,
    name="Re-examine Cache-control Directives",
    risk=INFO,
    confidence=CONF_LOW,
    cwe=525,
    wasc=13,
    desc="The cache-control header has not been set properly or is missing, allowing the "
    "browser and proxies to cache content. For static assets like css, js, or image files this "
    "might be intended, however, the resources should be reviewed to ensure that no sensitive "
    "content will be cached.",
    solution="For secure content, ensure the cache-control HTTP header is set with \"no-cache, "
    "no-store, must-revalidate\". If an asset should be cached consider setting the directives "
    "\"public, max-age, immutable\".",
    reference="https://cheatsheetseries.owasp.org/cheatsheets/Session_Management_Cheat_Sheet."
    "html#web-content-caching\nhttps://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/"
    "Cache-Control\nhttps://grayduck.mn/2021/09/13/cache-control-recommendations/",
)
def cache_control(msg: Message) -> Iterator[Hit]:
    """An HTTPS, non-POST, text (not JS/CSS/image), non-error response whose Cache-Control
    lacks any of no-store, no-cache, must-revalidate."""
    if not msg.is_https or not msg.body or msg.method.upper() == "POST" or msg.is_image:
        return
    if msg.is_redirect or msg.is_error or not msg.is_text or msg.is_javascript or msg.is_css:
        return
    values = msg.header_values("Cache-Control")
    joined = ", ".join(values).lower()
    if not values or any(d not in joined for d in ("no-store", "no-cache", "must-revalidate")):
        yield Hit(param="Cache-Control", evidence=", ".join(values))


_REFS = "https://tools.ietf.org/html/rfc7234\nhttps://tools.ietf.org/html/rfc7231\n" \
    "https://www.rfc-editor.org/rfc/rfc9110.html"  # fmt: skip
_NON_STORABLE = dict(
    ref="1",
    name="Non-Storable Content",
    desc="The response contents are not storable by caching components such as proxy servers. "
    "If the response does not contain sensitive, personal or user-specific information, it may "
    "benefit from being stored and cached, to improve performance.",
    solution="The content may be marked as storable by ensuring that the following conditions "
    "are satisfied:\nThe request method must be understood by the cache and defined as being "
    "cacheable (\"GET\", \"HEAD\", and \"POST\" are currently defined as cacheable)\nThe "
    "response status code must be understood by the cache (one of the 1XX, 2XX, 3XX, 4XX, or "
    "5XX response classes are generally understood)\nThe \"no-store\" cache directive must not "
    "appear in the request or response header fields\nFor caching by \"shared\" caches such as "
    "\"proxy\" caches, the \"private\" response directive must not appear in the response\nFor "
    "caching by \"shared\" caches such as \"proxy\" caches, the \"Authorization\" header field "
    "must not appear in the request, unless the response explicitly allows it (using one of the "
    "\"must-revalidate\", \"public\", or \"s-maxage\" Cache-Control response directives)\nIn "
    "addition to the conditions above, at least one of the following conditions must also be "
    "satisfied by the response:\nIt must contain an \"Expires\" header field\nIt must contain a "
    "\"max-age\" response directive\nFor \"shared\" caches such as \"proxy\" caches, it must "
    "contain a \"s-maxage\" response directive\nIt must contain a \"Cache Control Extension\" "
    "that allows it to be cached\nIt must have a status code that is defined as cacheable by "
    "default (200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501).",
    reference=_REFS,
)
_NON_CACHEABLE = dict(
    ref="2",
    name="Storable but Non-Cacheable Content",
    desc="The response contents are storable by caching components such as proxy servers, but "
    "will not be retrieved directly from the cache, without validating the request upstream, in "
    "response to similar requests from other users.",
    solution="",
    reference=_REFS,
)
_CACHEABLE_TTL_ASSUMED = (
    "In the absence of an explicitly specified caching lifetime directive in the response, a "
    "liberal lifetime heuristic of 1 year was assumed. This is permitted by rfc7234."
)
_CACHEABLE_STALE = (
    "Stale retrieval is not blocked by the web/application server, such as by a \"must-"
    "revalidate\" or \"proxy-revalidate\" directive."
)
_DEFAULT_CACHEABLE = {200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501}


def _tokens(values: list[str]) -> list[str]:
    return [t.strip().lower() for v in values for t in v.replace(",", " ").split() if t.strip()]


def _seconds(token: str, prefix: str) -> int | None:
    try:
        return int(token[len(prefix) :].strip('"'))
    except ValueError:
        return None


def _lifetime(resp_cc: list[str], msg: Message) -> tuple[int | None, str]:
    """Freshness lifetime (s-maxage, max-age, Expires - Date) and its evidence."""
    for prefix in ("s-maxage=", "max-age="):
        found = [t for t in resp_cc if t.startswith(prefix)]
        if len(found) == 1 and _seconds(found[0], prefix) is not None:
            return _seconds(found[0], prefix), found[0]
    expires, dates = msg.header_values("Expires"), msg.header_values("Date")
    if len(expires) == 1:
        try:
            until = parsedate_to_datetime(expires[0])
        except (TypeError, ValueError, IndexError):
            return 0, expires[0]  # an invalid date counts as already expired
        if len(dates) == 1:
            try:
                now = parsedate_to_datetime(dates[0])
            except (TypeError, ValueError, IndexError):
                return None, ""
            return int((until - now).total_seconds()), expires[0]
    return None, ""


@rule(
    10049,
    name="Content Cacheability",
    alert="Storable and Cacheable Content",
    risk=INFO,
    confidence=CONF_MEDIUM,
    cwe=524,
    wasc=13,
    status="beta",
    desc="The response contents are storable by caching components such as proxy servers, and "
    "may be retrieved directly from the cache, rather than from the origin server by the "
    "caching servers, in response to similar requests from other users. If the response data is "
    "sensitive, personal or user-specific, this may result in sensitive information being "
    "leaked. In some cases, this may even result in a user gaining complete control of the "
    "session of another user, depending on the configuration of the caching components in use "
    "in their environment. This is primarily an issue where \"shared\" caching servers such as "
    "\"proxy\" caches are configured on the local network. This configuration is typically "
    "found in corporate or educational environments, for instance.",
    solution="Validate that the response does not contain sensitive, personal or user-specific "
    "information. If it does, consider the use of the following HTTP response headers, to "
    "limit, or prevent the content being stored and retrieved from the cache by another user:\n"
    "Cache-Control: no-cache, no-store, must-revalidate, private\nPragma: no-cache\nExpires: 0\n"
    "This configuration directs both HTTP 1.0 and HTTP 1.1 compliant caching servers to not "
    "store the response, and to not retrieve the response (without validation) from the cache, "
    "in response to a similar request.",
    reference=_REFS,
)
def cacheability(msg: Message) -> Iterator[Hit]:
    """Every response: storable and cacheable (-3) unless no-store/private/... (-1) or
    no-cache/stale with must-revalidate (-2), per RFC 7234."""
    method = msg.method.upper()
    if method not in ("GET", "HEAD", "POST"):
        yield Hit(evidence=method + " ", **_NON_STORABLE)
        return
    if not 100 <= msg.status < 600:
        yield Hit(evidence=str(msg.status), **_NON_STORABLE)
        return
    resp_cc = _tokens(msg.header_values("Cache-Control"))
    all_cc = _tokens(
        msg.request_header_values("Pragma") + msg.header_values("Pragma")
        + msg.request_header_values("Cache-Control")
    ) + resp_cc  # fmt: skip
    for bad in ("no-store", "private"):
        if bad in (all_cc if bad == "no-store" else resp_cc):
            yield Hit(evidence=bad, **_NON_STORABLE)
            return
    if msg.request_header_values("Authorization") and not any(
        t in ("must-revalidate", "public") or t.startswith("s-maxage=") for t in resp_cc
    ):
        yield Hit(evidence="Authorization:", **_NON_STORABLE)
        return
    storable = (
        msg.header_values("Expires")
        or any(t.startswith(("max-age=", "s-maxage=")) or t == "public" for t in resp_cc)
        or msg.status in _DEFAULT_CACHEABLE
    )
    if not storable:
        yield Hit(evidence=str(msg.status), **_NON_STORABLE)
        return
    if "no-cache" in resp_cc:
        yield Hit(evidence="no-cache", **_NON_CACHEABLE)
        return
    lifetime, evidence = _lifetime(resp_cc, msg)
    other = ""
    if lifetime is None:
        lifetime, evidence, other = 365 * 24 * 3600, "", _CACHEABLE_TTL_ASSUMED
    if lifetime > 0:
        yield Hit(evidence=evidence, otherinfo=other, ref="3")
        return
    blocker = next(
        (t for t in resp_cc if t in ("must-revalidate", "proxy-revalidate")
         or t.startswith(("s-maxage=", "max-age="))),
        None,
    )  # fmt: skip
    if blocker:
        yield Hit(evidence=blocker, **_NON_CACHEABLE)
    else:
        yield Hit(evidence="", otherinfo=_CACHEABLE_STALE, ref="3")
