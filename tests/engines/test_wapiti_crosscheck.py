"""Cross-check: the real Wapiti's passive modules and the baseline on the same two apps.

Wapiti 3.2's `http_headers`, `cookieflags` and `csp` modules overlap the baseline's 10020,
10021, 10035, 10010, 10011, 10038 and 10055. Both scan the defect app and its clean twin over
HTTP and HTTPS; where both look at the same thing they must agree. Wapiti looks only at the
root URL (and the cookies it collected), so the comparison is on the root URL.

Where they disagree, on purpose (asserted below, so a change in either is noticed):
* Secure flag over plain HTTP: Wapiti reports it; ZAP's 10011 (and ours) only judges cookies
  on HTTPS responses, where the flag changes anything ("If SSL isn't used then the Secure flag
  has not to be checked", CookieSecureFlagScanRule). Over HTTPS both report both cookies.
* CSP object-src: Wapiti wants `object-src 'none'` and flags `default-src 'self'` falling back
  to it; ZAP's 10055 only flags directives that admit arbitrary hosts, and `'self'` does not.
  Ours follows ZAP (the baseline speaks ZAP's rule ids, so it must mean what ZAP means).
* Wapiti treats `default-src` as a fallback for `base-uri` (the CSP spec does not), so it is
  quiet on `base-uri` here; ZAP has no base-uri check either: they agree by accident.
* X-Frame-Options: Wapiti ignores CSP frame-ancestors; ZAP's 10020 accepts it instead of XFO.
  Both apps set both or neither, so this does not show here; it is documented, not tested.

Needs PyPI the first time: installs `wapiti` (wapiti3, pinned in secpipe's tool specs) into
secpipe's tools dir when it is not there yet.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from secpipe.engines.baseline import run_baseline
from secpipe.tools import tool_env
from secpipe.tools.probe import locate, probe
from secpipe.tools.provision import install
from tests.engines.targets import alerts, serve

pytestmark = pytest.mark.tools

MODULES = "http_headers,cookieflags,csp"


@pytest.fixture(scope="module")
def wapiti() -> Path:
    if not probe("wapiti").ok:
        install("wapiti")
    state = probe("wapiti")
    assert state.ok, state.as_dict()
    path = locate("wapiti")
    assert path is not None
    return path


def _run_wapiti(exe: Path, url: str, work: Path) -> dict[str, set[str]]:
    """Category -> set of `info` texts Wapiti reported for the root URL."""
    out = work / "wapiti.json"
    env = {**tool_env(), "HOME": str(work)}  # keep ~/.wapiti out of the real home
    proc = subprocess.run(
        [str(exe), "-u", url, "-m", MODULES, "--scope", "folder", "-f", "json", "-o", str(out),
         "--max-scan-time", "60", "--flush-session", "--store-session", str(work / "session"),
         "--store-config", str(work / "config"), "-v", "0"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0 and out.is_file(), proc.stderr[-2000:]
    report = json.loads(out.read_text())
    found: dict[str, set[str]] = {}
    for category, items in report["vulnerabilities"].items():
        for item in items:
            if item["path"] == "/":
                found.setdefault(category, set()).add(item["info"])
    return found


def _ours(url: str) -> dict[int, list[dict]]:
    result = run_baseline(url, max_seconds=30)
    assert result.error is None
    root = url
    return {
        pid: [a for a in alerts(result, pid) if any(i["uri"] == root for i in a["instances"])]
        for pid in (10010, 10011, 10020, 10021, 10035, 10038, 10055)
    }


def _params(found: list[dict], root: str) -> set[str]:
    return {i["param"] for a in found for i in a["instances"] if i["uri"] == root}


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_wapiti_and_baseline_agree_on_headers_cookies_and_csp(
    wapiti: Path, tls_files_lazy, tmp_path: Path, scheme: str
) -> None:
    tls = tls_files_lazy() if scheme == "https" else None
    with serve("defect", tls=tls) as site:
        theirs = _run_wapiti(wapiti, site.url, tmp_path / "defect")
        ours = _ours(site.url)
    root = site.url

    # Anti-clickjacking and MIME sniffing: both flag the root page.
    assert "X-Frame-Options is not set" in theirs["Clickjacking Protection"]
    assert ours[10020]
    assert "X-Content-Type-Options is not set" in theirs["MIME Type Confusion"]
    assert ours[10021]

    # HSTS: only meaningful over HTTPS, and both only check it there.
    if scheme == "https":
        assert "Strict-Transport-Security is not set" in theirs["HTTP Strict Transport Security (HSTS)"]
        assert ours[10035]
    else:
        assert "HTTP Strict Transport Security (HSTS)" not in theirs and not ours[10035]

    # Cookies: HttpOnly agrees cookie by cookie.
    http_only = {i.rsplit(": ", 1)[1] for i in theirs["HttpOnly Flag cookie"]}
    assert http_only == _params(ours[10010], root) == {"session", "theme"}
    secure = {i.rsplit(": ", 1)[1] for i in theirs["Secure Flag cookie"]}
    assert secure == {"session", "theme"}
    if scheme == "https":
        assert _params(ours[10011], root) == secure
    else:
        assert not ours[10011]  # disagreement by design: see the module docstring

    # CSP: a policy is set (10038 quiet on the root, Wapiti has no "CSP is not set"), and its
    # script-src admits inline code and eval: Wapiti's "script-src not safe" is our 10055-5/-10.
    assert not ours[10038]
    csp = theirs["Content Security Policy Configuration"]
    assert 'CSP "script-src" value is not safe' in csp
    assert {"CSP: script-src unsafe-inline", "CSP: script-src unsafe-eval"} <= {
        a["alert"] for a in ours[10055]
    }
    assert 'CSP "object-src" value is not safe' in csp  # Wapiti only: see the docstring
    assert not any("object-src" in a["otherinfo"] for a in ours[10055])


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_both_quiet_on_the_clean_twin(wapiti: Path, tls_files_lazy, tmp_path: Path, scheme: str) -> None:
    tls = tls_files_lazy() if scheme == "https" else None
    with serve("clean", tls=tls) as site:
        theirs = _run_wapiti(wapiti, site.url, tmp_path / "clean")
        ours = _ours(site.url)
    assert theirs == {}
    assert all(not found for found in ours.values()), {k: v for k, v in ours.items() if v}

