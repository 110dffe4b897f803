"""Browser isolation policies: 10063 Permissions-Policy and 90004 Insufficient Site
Isolation Against Spectre Vulnerability (CORP, COEP, COOP).

For 90004 ZAP checks only successful (2xx) responses: CORP on every resource not shared
through CORS, COEP and COOP on documents (text/html, application/xml).
"""

from __future__ import annotations

from typing import Iterator

from secpipe.engines.baseline.message import Message
from secpipe.engines.baseline.rules._registry import CONF_MEDIUM, LOW, Hit, rule

@rule(
    10063,
    name="Permissions Policy Header Not Set",
    risk=LOW,
    confidence=CONF_MEDIUM,
    cwe=693,
    wasc=15,
    status="beta",
    desc="Permissions Policy Header is an added layer of security that helps to restrict from "
    "unauthorized access or usage of browser/client features by web resources. This policy "
    "ensures the user privacy by limiting or specifying the features of the browsers can be used "
    "by the web resources. Permissions Policy provides a set of standard HTTP headers that allow "
    "website owners to limit which features of browsers can be used by the page such as camera, "
    "microphone, location, full screen etc.",
    solution="Ensure that your web server, application server, load balancer, etc. is "
    "configured to set the Permissions-Policy header.",
    reference="https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Permissions-Policy\n"
    "https://developer.chrome.com/blog/feature-policy/\nhttps://scotthelme.co.uk/a-new-security-"
    "header-feature-policy/\nhttps://w3c.github.io/webappsec-feature-policy/\n"
    "https://www.smashingmagazine.com/2018/12/feature-policy/",
)
def permissions_policy(msg: Message) -> Iterator[Hit]:
    """An HTML or JavaScript non-redirect response without Permissions-Policy (or with the
    deprecated Feature-Policy, -2)."""
    if not (msg.is_html or msg.is_javascript) or msg.is_redirect:
        return
    if msg.has_header("Feature-Policy"):
        yield Hit(
            evidence="Feature-Policy",
            ref="2",
            name="Deprecated Feature Policy Header Set",
            desc="The header has now been renamed to Permissions-Policy.",
            solution="Ensure that your web server, application server, load balancer, etc. is "
            "configured to set the Permissions-Policy header instead of the Feature-Policy "
            "header.",
            cwe=16,
        )
    elif not msg.has_header("Permissions-Policy"):
        yield Hit(ref="1")


_CANIUSE = "https://caniuse.com/mdn-http_headers_cross-origin-"


def _values(msg: Message, header: str) -> list[str]:
    """Directive values of a header, `report-to` parameters dropped."""
    return [
        part.strip()
        for value in msg.header_values(header)
        for part in value.split(";")
        if part.strip() and not part.strip().startswith("report-to")
    ]


def _is_document(msg: Message) -> bool:
    return any(
        v.startswith(("text/html", "application/xml")) for v in msg.header_values("Content-Type")
    )


_CORP = dict(
    desc="Cross-Origin-Resource-Policy header is an opt-in header designed to counter side-"
    "channels attacks like Spectre. Resource should be specifically set as shareable amongst "
    "different origins.",
    solution="Ensure that the application/web server sets the Cross-Origin-Resource-Policy "
    "header appropriately, and that it sets the Cross-Origin-Resource-Policy header to "
    "'same-origin' for all web pages.\n'same-site' is considered as less secured and should be "
    "avoided.\nIf resources must be shared, set the header to 'cross-origin'.\nIf possible, "
    "ensure that the end user uses a standards-compliant and modern web browser that supports "
    f"the Cross-Origin-Resource-Policy header ({_CANIUSE}resource-policy).",
    reference="https://developer.mozilla.org/en-US/docs/Web/HTTP/Cross-Origin_Resource_Policy",
)
_COEP = dict(
    desc="Cross-Origin-Embedder-Policy header is a response header that prevents a document "
    "from loading any cross-origin resources that don't explicitly grant the document "
    "permission (using CORP or CORS).",
    solution="Ensure that the application/web server sets the Cross-Origin-Embedder-Policy "
    "header appropriately, and that it sets the Cross-Origin-Embedder-Policy header to "
    "'require-corp' for documents.\nIf possible, ensure that the end user uses a standards-"
    "compliant and modern web browser that supports the Cross-Origin-Embedder-Policy header "
    f"({_CANIUSE}embedder-policy).",
    reference="https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Cross-Origin-Embedder-"
    "Policy",
)
_COOP = dict(
    desc="Cross-Origin-Opener-Policy header is a response header that allows a site to control "
    "if others included documents share the same browsing context. Sharing the same browsing "
    "context with untrusted documents might lead to data leak.",
    solution="Ensure that the application/web server sets the Cross-Origin-Opener-Policy header "
    "appropriately, and that it sets the Cross-Origin-Opener-Policy header to 'same-origin' for "
    "documents.\n'same-origin-allow-popups' is considered as less secured and should be "
    "avoided.\nIf possible, ensure that the end user uses a standards-compliant and modern web "
    f"browser that supports the Cross-Origin-Opener-Policy header ({_CANIUSE}opener-policy).",
    reference="https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Cross-Origin-Opener-"
    "Policy",
)


@rule(
    90004,
    name="Insufficient Site Isolation Against Spectre Vulnerability",
    risk=LOW,
    confidence=CONF_MEDIUM,
    cwe=693,
    wasc=14,
    status="beta",
    desc=_CORP["desc"],
    solution=_CORP["solution"],
    reference=_CORP["reference"],
)
def site_isolation(msg: Message) -> Iterator[Hit]:
    """A 2xx response without CORP (-1, unless CORS-shared), or a 2xx document without
    `COEP: require-corp|credentialless` (-2) or `COOP: same-origin` (-3)."""
    if not 200 <= msg.status < 300:
        return
    header = "Cross-Origin-Resource-Policy"
    if not any(k.lower().startswith("access-control-allow-") for k, _ in msg.headers):
        values = _values(msg, header)
        if not msg.has_header(header):
            yield Hit(param=header, ref="1", **_CORP)
        for value in values:
            if value.lower() == "same-site" or value.lower() not in ("same-origin", "cross-origin"):
                yield Hit(param=header, evidence=value, ref="1", **_CORP)
    if not _is_document(msg):
        return
    for header, ref, good, texts in (
        ("Cross-Origin-Embedder-Policy", "2", ("require-corp", "credentialless"), _COEP),
        ("Cross-Origin-Opener-Policy", "3", ("same-origin",), _COOP),
    ):
        if not msg.has_header(header):
            yield Hit(param=header, ref=ref, **texts)
        for value in _values(msg, header):
            if value.lower() not in good:
                yield Hit(param=header, evidence=value, ref=ref, **texts)
