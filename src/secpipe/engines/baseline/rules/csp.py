"""Content Security Policy rules: 10038 (CSP missing) and 10055 (CSP weaknesses).

ZAP evaluates policies with Shape Security's Salvation library; this is a small evaluator of
the same questions: does a directive (after the fallback chain) admit an arbitrary external
host (the "Wildcard Directive"), does the script/style policy admit inline code or eval.
"""

from __future__ import annotations

from typing import Iterator

from secpipe.engines.baseline.message import Message
from secpipe.engines.baseline.rules._registry import CONF_HIGH, INFO, LOW, MEDIUM, Hit, rule

CSP = "Content-Security-Policy"
# What each checked kind of load falls back to when its own directive is absent.
_FALLBACK = {
    "script-src": ("script-src", "default-src"),
    "style-src": ("style-src", "default-src"),
    "img-src": ("img-src", "default-src"),
    "connect-src": ("connect-src", "default-src"),
    "frame-src": ("frame-src", "child-src", "default-src"),
    "frame-ancestors": ("frame-ancestors",),
    "font-src": ("font-src", "default-src"),
    "media-src": ("media-src", "default-src"),
    "object-src": ("object-src", "default-src"),
    "manifest-src": ("manifest-src", "default-src"),
    "worker-src": ("worker-src", "child-src", "script-src", "default-src"),
    "prefetch-src": ("prefetch-src", "default-src"),
    "form-action": ("form-action",),
}
_NO_FALLBACK = (
    "base-uri", "form-action", "frame-ancestors", "plugin-types", "report-uri", "sandbox",
)  # fmt: skip
_KNOWN = set(_FALLBACK) | set(_NO_FALLBACK) | {
    "default-src", "child-src", "script-src-elem", "script-src-attr", "style-src-elem",
    "style-src-attr", "report-to", "upgrade-insecure-requests", "block-all-mixed-content",
    "require-trusted-types-for", "trusted-types", "navigate-to", "require-sri-for",
    "webrtc", "fenced-frame-src",
}  # fmt: skip
_KEYWORDS = {"self", "none", "unsafe-inline", "unsafe-eval", "strict-dynamic", "unsafe-hashes",
             "report-sample", "unsafe-allow-redirects", "wasm-unsafe-eval"}  # fmt: skip


def parse_policy(text: str) -> dict[str, list[str]]:
    """Directive name -> source tokens; the first of duplicate directives wins (per spec)."""
    policy: dict[str, list[str]] = {}
    for chunk in text.split(";"):
        tokens = chunk.split()
        if tokens:
            policy.setdefault(tokens[0].lower(), tokens[1:])
    return policy


def effective(policy: dict[str, list[str]], kind: str) -> list[str] | None:
    for name in _FALLBACK.get(kind, (kind, "default-src")):
        if name in policy:
            return policy[name]
    return None


def _any_host(token: str) -> bool:
    t = token.lower()
    if t in ("*", "http:", "https:", "http://*", "https://*", "*:*"):
        return True
    rest = t.split("://", 1)[-1]
    return rest.startswith("*") and not rest.startswith("*.")


def allows_external(policy: dict[str, list[str]], kind: str) -> bool:
    tokens = effective(policy, kind)
    if tokens is None:
        return True
    lowered = [t.lower() for t in tokens]
    if kind in ("script-src", "worker-src") and "'strict-dynamic'" in lowered:
        return False
    return any(_any_host(t) for t in lowered)


def allows_inline(policy: dict[str, list[str]], kind: str) -> bool:
    tokens = effective(policy, kind)
    if tokens is None:
        return True
    lowered = [t.lower() for t in tokens]
    if "'unsafe-inline'" not in lowered:
        return False
    # CSP2+: a nonce, a hash or 'strict-dynamic' makes browsers ignore 'unsafe-inline'.
    return not any(
        t.startswith(("'nonce-", "'sha256-", "'sha384-", "'sha512-")) or t == "'strict-dynamic'"
        for t in lowered
    )


def notices(policy: dict[str, list[str]]) -> list[str]:
    warnings = []
    for name, tokens in policy.items():
        if name not in _KNOWN:
            warnings.append(f"Unrecognized directive {name}")
        for token in tokens:
            if token.lower() in _KEYWORDS:
                warnings.append(
                    "This host name is unusual, and likely meant to be a keyword that is missing "
                    f"the required quotes: '{token.lower()}'."
                )
    return warnings


@rule(
    10038,
    name="Content Security Policy (CSP) Header Not Set",
    risk=MEDIUM,
    confidence=CONF_HIGH,
    cwe=693,
    wasc=15,
    desc="Content Security Policy (CSP) is an added layer of security that helps to detect and "
    "mitigate certain types of attacks, including Cross Site Scripting (XSS) and data injection "
    "attacks. These attacks are used for everything from data theft to site defacement or "
    "distribution of malware. CSP provides a set of standard HTTP headers that allow website "
    "owners to declare approved sources of content that browsers should be allowed to load on "
    "that page \u2014 covered types are JavaScript, CSS, HTML frames, fonts, images and "
    "embeddable objects such as Java applets, ActiveX, audio and video files.",
    solution="Ensure that your web server, application server, load balancer, etc. is "
    "configured to set the Content-Security-Policy header.",
    reference="https://developer.mozilla.org/en-US/docs/Web/Security/CSP/Introducing_Content_"
    "Security_Policy\nhttps://cheatsheetseries.owasp.org/cheatsheets/Content_Security_Policy_"
    "Cheat_Sheet.html\nhttps://www.w3.org/TR/CSP/\nhttps://w3c.github.io/webappsec-csp/\n"
    "https://web.dev/articles/csp\nhttps://caniuse.com/#feat=contentsecuritypolicy\n"
    "https://content-security-policy.com/",
)
def csp_missing(msg: Message) -> Iterator[Hit]:
    """A non-redirect HTML page with neither a CSP header nor a CSP <meta> (report-only: -3)."""
    if not msg.is_html or msg.is_redirect:
        return
    if not msg.has_header(CSP) and not msg.doc.meta_http_equiv(CSP):
        yield Hit(ref="1")
    if msg.has_header("Content-Security-Policy-Report-Only"):
        yield Hit(
            ref="3",
            name="Content Security Policy (CSP) Report-Only Header Found",
            risk=INFO,
            desc="The response contained a Content-Security-Policy-Report-Only header, this may "
            "indicate a work-in-progress implementation, or an oversight in promoting pre-Prod "
            "to Prod, etc.",
            reference="https://www.w3.org/TR/CSP2/\nhttps://w3c.github.io/webappsec-csp/\n"
            "https://caniuse.com/#feat=contentsecuritypolicy\nhttps://content-security-policy.com/",
        )


def _evaluate(param: str, text: str, meta: bool) -> Iterator[Hit]:
    policy = parse_policy(text)
    found = notices(policy)
    if found:
        yield Hit(param=param, evidence=text, ref="3", name="CSP: Notices", risk=LOW,
                  otherinfo="Warnings:\n" + "\n".join(found))  # fmt: skip
    wild = [kind for kind in _FALLBACK if allows_external(policy, kind)]
    if meta and "frame-ancestors" in wild:
        wild.remove("frame-ancestors")  # not applicable to a <meta> policy
    if wild:
        other = (
            "The following directives either allow wildcard sources (or ancestors), are not "
            "defined, or are overly broadly defined:\n" + ", ".join(wild)
        )
        no_fallback = [k for k in wild if k in _NO_FALLBACK]
        if no_fallback:
            other += (
                f"\n\nThe directive(s): {', '.join(no_fallback)} are among the directives that do "
                "not fallback to default-src, missing/excluding them is the same as allowing "
                "anything."
            )
        yield Hit(param=param, evidence=text, ref="4", name="CSP: Wildcard Directive",
                  otherinfo=other)  # fmt: skip
    if allows_inline(policy, "script-src"):
        yield Hit(param=param, evidence=text, ref="5", name="CSP: script-src unsafe-inline",
                  otherinfo="script-src includes unsafe-inline.")  # fmt: skip
    if allows_inline(policy, "style-src"):
        yield Hit(param=param, evidence=text, ref="6", name="CSP: style-src unsafe-inline",
                  otherinfo="style-src includes unsafe-inline.")  # fmt: skip
    for kind, ref in (("script-src", "7"), ("style-src", "8")):
        if "'unsafe-hashes'" in [t.lower() for t in policy.get(kind, [])]:
            yield Hit(
                param=param, evidence=text, ref=ref, name=f"CSP: {kind} unsafe-hashes",
                otherinfo=f"{kind} includes unsafe-hashes, an attacker will be able to use any "
                "of the code covered by such hashes.",
                reference="https://www.w3.org/TR/CSP3/#unsafe-hashes-usage",
            )  # fmt: skip
    if "'unsafe-eval'" in [t.lower() for t in policy.get("script-src", [])]:
        yield Hit(param=param, evidence=text, ref="10", name="CSP: script-src unsafe-eval",
                  otherinfo="script-src includes unsafe-eval.")  # fmt: skip
    if meta and any(d in policy for d in ("sandbox", "frame-ancestors", "report-uri")):
        yield Hit(
            param=param, evidence=text, ref="11", name="CSP: Meta Policy Invalid Directive",
            desc="The policy specified via meta element contains either or both the sandbox or "
            "frame-ancestors directive, which are not permitted inside meta CSP definitions.",
        )  # fmt: skip


@rule(
    10055,
    name="CSP",
    risk=MEDIUM,
    confidence=CONF_HIGH,
    cwe=693,
    wasc=15,
    desc="Content Security Policy (CSP) is an added layer of security that helps to detect and "
    "mitigate certain types of attacks. Including (but not limited to) Cross Site Scripting "
    "(XSS), and data injection attacks. These attacks are used for everything from data theft to "
    "site defacement or distribution of malware. CSP provides a set of standard HTTP headers "
    "that allow website owners to declare approved sources of content that browsers should be "
    "allowed to load on that page \u2014 covered types are JavaScript, CSS, HTML frames, fonts, "
    "images and embeddable objects such as Java applets, ActiveX, audio and video files.",
    solution="Ensure that your web server, application server, load balancer, etc. is properly "
    "configured to set the Content-Security-Policy header.",
    reference="https://www.w3.org/TR/CSP/\nhttps://caniuse.com/#search=content+security+policy\n"
    "https://content-security-policy.com/\nhttps://github.com/HtmlUnit/htmlunit-csp\n"
    "https://developers.google.com/web/fundamentals/security/csp#policy_applies_to_a_wide_"
    "variety_of_resources",
)
def csp_weaknesses(msg: Message) -> Iterator[Hit]:
    """An HTML page whose CSP (header or <meta>) admits any host, inline script/style or eval."""
    if not msg.is_html:
        return
    header_name = next((k for k, _ in msg.headers if k.lower() == CSP.lower()), CSP)
    headers = msg.header_values(CSP)
    for legacy, ref in (("X-Content-Security-Policy", "1"), ("X-WebKit-CSP", "2")):
        value = msg.header(legacy)
        if value is not None:
            yield Hit(
                param=legacy, evidence=value, ref=ref, risk=INFO if headers else LOW,
                name="CSP: X-Content-Security-Policy" if ref == "1" else "CSP: X-WebKit-CSP",
                otherinfo=f"The header {legacy} was found on this response. While it is a good "
                "sign that CSP is implemented to some degree the policy specified in this header "
                "has not been analyzed by ZAP. To ensure full support by modern browsers ensure "
                "that the Content-Security-Policy header is defined and attached to responses.",
            )  # fmt: skip
    for text in headers:
        yield from _evaluate(header_name, text, meta=False)
    metas = [m for m in msg.doc.meta_http_equiv(CSP) if (m.get("content") or "").strip()]
    for meta in metas:
        yield from _evaluate(CSP, meta.get("content") or "", meta=True)
    if metas and headers:
        yield Hit(
            ref="12", name="CSP: Header & Meta", risk=INFO,
            desc="The message contained both CSP specified via header and via Meta tag. It was "
            "not possible to union these policies in order to perform an analysis. Therefore, "
            "they have been evaluated individually.",
        )  # fmt: skip
