"""The misconfiguration equivalence table names rules that exist in the pinned tools.

checkov: the check id is defined in the installed checkov package (Python checks and graph
checks); hadolint: the DL/SC code is in the hadolint binary; trivy: the id is one of the checks
embedded in the trivy binary (their METADATA `id:`); KICS (not installed here): the query id is
in a real KICS report. An id that does not exist would make an entry silently dead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from functools import lru_cache
from pathlib import Path

import pytest

from secpipe.pipeline.correlate import Equivalence, canonical_rule, load_table
from secpipe.tools import tool_env
from tests.conftest import shared_fixture_dir

TOOLS = {"checkov", "hadolint", "trivy", "kics"}


def _exe(name: str) -> Path:
    found = shutil.which(name, path=tool_env()["PATH"])
    if found is None:
        pytest.fail(f"{name} is not installed: run `secpipe tools install` (make test does)")
    return Path(os.path.realpath(found))


@lru_cache(maxsize=1)
def _checkov_sources() -> str:
    exe = _exe("checkov")
    pkg = next(exe.parent.parent.glob("lib/python3*/site-packages/checkov"), None)
    assert pkg is not None, f"no checkov package beside {exe}"
    parts = []
    for path in pkg.rglob("*"):
        if path.suffix in (".py", ".json", ".yaml", ".yml") and "tests" not in path.parts:
            parts.append(path.read_text("utf-8", "replace"))
    return "\n".join(parts)


@lru_cache(maxsize=1)
def _trivy_checks() -> set[str]:
    data = _exe("trivy").read_bytes()
    ids = {m.group(1).decode() for m in re.finditer(rb"#   id: ([A-Z]+-\d{4})\n", data)}
    assert len(ids) > 200, "the trivy binary should embed its checks"
    return ids


@lru_cache(maxsize=1)
def _hadolint_codes() -> set[str]:
    data = _exe("hadolint").read_bytes()
    return {m.decode() for m in re.findall(rb"(?:DL|SC)\d{4}", data)}


def _kics_queries() -> set[str]:
    report = shared_fixture_dir("kics") / "many_findings.json"
    return {q["query_id"].lower() for q in json.loads(report.read_text())["queries"]}


def _entries() -> list[Equivalence]:
    return list(load_table())


def test_table_loads_with_two_tools_per_entry_and_unique_rules() -> None:
    table = _entries()
    assert len(table) >= 40
    assert {e.framework for e in table} == {"dockerfile", "kubernetes", "terraform"}
    for entry in table:
        assert set(entry.rules) <= TOOLS, entry.id
        assert sum(1 for ids in entry.rules.values() if ids) >= 2, entry.id
    assert len({e.id for e in table}) == len(table)


@pytest.mark.tools
def test_every_checkov_id_exists_in_the_pinned_checkov() -> None:
    sources = _checkov_sources()
    missing = [rule for e in _entries() for rule in e.rules.get("checkov", ())
               if not re.search(r"[\"' ]" + re.escape(rule) + r"[\"']", sources)]
    assert not missing, missing


@pytest.mark.tools
def test_every_trivy_id_is_a_check_of_the_pinned_trivy() -> None:
    known = _trivy_checks()
    missing = [rule for e in _entries() for rule in e.rules.get("trivy", ()) if rule not in known]
    assert not missing, missing


@pytest.mark.tools
def test_every_hadolint_code_exists_in_the_pinned_hadolint() -> None:
    known = _hadolint_codes()
    assert "DL3020" in known and len(known) > 50
    missing = [rule for e in _entries() for rule in e.rules.get("hadolint", ())
               if rule not in known]
    assert not missing, missing


def test_every_kics_query_exists_in_a_real_kics_report() -> None:
    known = _kics_queries()
    missing = [rule for e in _entries() for rule in e.rules.get("kics", ()) if rule not in known]
    assert not missing, missing


def test_trivy_ids_of_every_generation_read_as_one() -> None:
    assert {canonical_rule("trivy", r) for r in ("DS002", "AVD-DS-0002", "DS-0002", "ds002")} \
        == {"DS-0002"}
    assert canonical_rule("trivy", "KSV001") == "KSV-0001"
    assert canonical_rule("checkov", "CKV_DOCKER_3") == "CKV_DOCKER_3"


def test_a_bad_table_is_refused(tmp_path: Path) -> None:
    one_tool = tmp_path / "one.yaml"
    one_tool.write_text("version: 1\nequivalences:\n  - id: x\n    framework: dockerfile\n"
                        "    rules: {hadolint: [DL3020]}\n")
    with pytest.raises(ValueError, match="two tools"):
        load_table(one_tool)
    twice = tmp_path / "twice.yaml"
    twice.write_text("version: 1\nequivalences:\n"
                     "  - {id: a, framework: dockerfile, rules: {hadolint: [DL3020], trivy: [DS005]}}\n"
                     "  - {id: b, framework: dockerfile, rules: {hadolint: [DL3020], checkov: [CKV_DOCKER_4]}}\n")
    with pytest.raises(ValueError, match="in both a and b"):
        load_table(twice)


@pytest.mark.tools
def test_secpipes_istio_checks_have_no_counterpart_in_the_pinned_tools() -> None:
    """Why no CKV_SECPIPE_ISTIO_* is in the table (docs/noise.md): neither checkov nor trivy
    ships a check on Istio's PeerAuthentication, AuthorizationPolicy or Gateway."""
    trivy_titles = re.findall(rb"\n# title: ?([^\n]*)", _exe("trivy").read_bytes())
    checkov_names = re.findall(r"\bname\s*[=:]\s*[\"']([^\"']+)[\"']", _checkov_sources())
    assert len(trivy_titles) > 200 and len(checkov_names) > 1000
    mesh = re.compile(r"istio|peerauthentication|authorizationpolicy|\bmtls\b|service mesh", re.I)
    assert not [t for t in trivy_titles if mesh.search(t.decode("utf-8", "replace"))]
    assert not [n for n in checkov_names if mesh.search(n)]
    assert all(not r.startswith("CKV_SECPIPE_ISTIO_") for e in _entries()
               for r in e.rules.get("checkov", ()))
