"""The hub's OSV-compatible routes over a real uvicorn server, and pip-audit using them.

The routes are mounted through the hub app's extension hook with SigV4 on: they answer
without signatures (OSV clients cannot sign) while the hub's own routes still refuse.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from secpipe.hub.api.app import create_app
from secpipe.hub.api.isolation import UNLIMITED
from secpipe.hub.api.server import running_server
from secpipe.hub.store import open_store
from secpipe.vulndb import VulnDB
from secpipe.vulndb.api import routes
from tests.vulndb.conftest import FIXTURES


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("osvapi")
    db = VulnDB(tmp / "vulndb.sqlite")
    db.import_path(FIXTURES)
    store = open_store(tmp / "hub.db")
    # public: pip-audit cannot authenticate (`hub serve --public-osv`); no rate limit here
    app = create_app(store, auth=True, token="not-for-osv-clients", limits=UNLIMITED,
                     extra_routes=routes(db, public=True))
    with running_server(app) as url:
        yield url
    store.close()
    db.close()


def post(url: str, body: object) -> httpx.Response:
    return httpx.post(url, content=json.dumps(body), timeout=10)


def test_query_by_name_and_ecosystem(hub_url: str) -> None:
    resp = post(f"{hub_url}/v1/query", {"package": {"name": "jinja2", "ecosystem": "PyPI"},
                                         "version": "2.11.2"})
    assert resp.status_code == 200
    vulns = resp.json()["vulns"]
    assert sorted(v["id"] for v in vulns) == ["GHSA-g3rq-g295-4j3m", "PYSEC-2021-66"]
    whole = next(v for v in vulns if v["id"] == "GHSA-g3rq-g295-4j3m")
    assert whole == json.loads((FIXTURES / "GHSA-g3rq-g295-4j3m.json").read_text())


def test_query_by_purl_and_release(hub_url: str) -> None:
    resp = post(f"{hub_url}/v1/query", {"package": {"purl": "pkg:npm/qs@6.7.0"}})
    assert [v["id"] for v in resp.json()["vulns"]] == ["GHSA-hrpp-h998-j3pp"]
    resp = post(f"{hub_url}/v1/query", {"package": {"name": "nginx", "ecosystem": "Debian:7"},
                                         "version": "1.2.1-2.2+wheezy2"})
    assert [v["id"] for v in resp.json()["vulns"]] == ["DSA-3029-1"]
    resp = post(f"{hub_url}/v1/query", {"package": {"name": "nginx", "ecosystem": "Debian:8"},
                                         "version": "1.2.1-2.2+wheezy2"})
    assert resp.json() == {}


def test_not_affected_and_all_versions(hub_url: str) -> None:
    resp = post(f"{hub_url}/v1/query", {"package": {"name": "jinja2", "ecosystem": "PyPI"},
                                         "version": "2.11.3"})
    assert (resp.status_code, resp.json()) == (200, {})  # api.osv.dev answers {} too
    resp = post(f"{hub_url}/v1/query", {"package": {"name": "Django", "ecosystem": "PyPI"}})
    assert [v["id"] for v in resp.json()["vulns"]] == ["GHSA-jh3w-4vvf-mjgr"]


def test_querybatch(hub_url: str) -> None:
    resp = post(f"{hub_url}/v1/querybatch", {"queries": [
        {"package": {"name": "minimist", "ecosystem": "npm"}, "version": "1.2.5"},
        {"package": {"name": "minimist", "ecosystem": "npm"}, "version": "1.2.6"},
        {"package": {"purl": "pkg:pypi/django@4.2.2"}},
    ]})
    assert resp.status_code == 200
    results = resp.json()["results"]
    assert results[0] == {"vulns": [{"id": "GHSA-xvch-5gv4-984h",
                                     "modified": "2023-02-27T14:47:14Z"}]}
    assert results[1] == {}
    assert [v["id"] for v in results[2]["vulns"]] == ["GHSA-jh3w-4vvf-mjgr"]


def test_get_vuln_by_id_or_alias(hub_url: str) -> None:
    assert httpx.get(f"{hub_url}/v1/vulns/DLA-112-1").json()["id"] == "DLA-112-1"
    assert httpx.get(f"{hub_url}/v1/vulns/CVE-2021-44906").json()["id"] == "GHSA-xvch-5gv4-984h"
    missing = httpx.get(f"{hub_url}/v1/vulns/GHSA-0000-0000-0000")
    assert missing.status_code == 404 and missing.json()["code"] == 5


@pytest.mark.parametrize(("body", "status", "text"), [
    ("not json", 400, "not JSON"),
    ({"package": {"name": "x"}}, 400, "name and an ecosystem"),
    ({"commit": "a" * 40}, 400, "commit queries are not supported"),
    ({"package": {"purl": "pkg:npm/qs@6.7.0"}, "version": "6.7.0"}, 400,
     "version specified in params and PURL"),
    ({"package": {"purl": "not a purl"}}, 400, "invalid purl"),
    ({"package": {"name": "left-pad", "ecosystem": "Go"}, "version": "1.0.0"}, 503,
     "no advisories for Go"),
])
def test_errors(hub_url: str, body: object, status: int, text: str) -> None:
    data = body if isinstance(body, str) else json.dumps(body)
    resp = httpx.post(f"{hub_url}/v1/query", content=data, timeout=10)
    assert resp.status_code == status and text in resp.json()["message"]


def test_batch_limit_and_shape(hub_url: str) -> None:
    resp = post(f"{hub_url}/v1/querybatch", {"queries": [{}] * 1001})
    assert resp.status_code == 400 and "1000" in resp.json()["message"]
    assert post(f"{hub_url}/v1/querybatch", {"nope": 1}).status_code == 400


def test_hub_routes_still_need_auth(hub_url: str) -> None:
    assert httpx.get(f"{hub_url}/v1/runs").status_code in (401, 403)


@pytest.mark.tools
def test_pip_audit_finds_the_vulnerable_pin(hub_url: str, tmp_path: Path) -> None:
    """pip-audit (real, secpipe's pinned install) with --osv-url at the hub reports Jinja2
    2.11.2's ReDoS; --no-deps --disable-pip keep it off PyPI entirely."""
    from secpipe.tools import ToolInstallError, install, tool_env

    try:
        result = install("pip-audit")
    except ToolInstallError as exc:
        pytest.skip(f"pip-audit could not be installed here: {exc}")
    exe = result.executables["pip-audit"]
    req = tmp_path / "requirements.txt"
    req.write_text("jinja2==2.11.2\nmarkupsafe==2.1.5\n")
    proc = subprocess.run(
        [str(exe), "-r", str(req), "--no-deps", "--disable-pip", "-s", "osv",
         "--osv-url", f"{hub_url}/v1/query", "--cache-dir", str(tmp_path / "cache"),
         "--progress-spinner", "off", "-f", "json"],
        capture_output=True, text=True, timeout=120, env=tool_env())
    assert proc.returncode == 1, proc.stderr  # 1: vulnerabilities found
    report = json.loads(proc.stdout)
    deps = {d["name"]: d for d in report["dependencies"]}
    # pip-audit merges records that alias each other: one vulnerability, both ids named
    [vuln] = deps["jinja2"]["vulns"]
    assert {vuln["id"], *vuln["aliases"]} >= {"GHSA-g3rq-g295-4j3m", "PYSEC-2021-66",
                                             "CVE-2020-28493"}
    assert vuln["fix_versions"] == ["2.11.3"]
    assert deps["markupsafe"]["vulns"] == []
