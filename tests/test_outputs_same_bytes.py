"""The run's files are the same bytes after the writers' speed-ups (issue 15, eighth round).

Each speed-up has its former code frozen here (or, for the OCSF events, the general mapping
that is the reference); a run of 2,000 generated findings of every kind the writers tell
apart (secrets with a masked "…", related findings of one issue, suppressed ones, hostile
text with escape sequences, bidi controls and multi-line OSC strings, CVSS scores, findings
without a file) is written by the current code and by the current code with the frozen
pieces put back, and every file is compared byte for byte. Property tests cover the small
pieces on hostile text.
"""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

import secpipe.outputs._html_data as html_data
import secpipe.outputs.junit as junit
import secpipe.outputs.ocsf as ocsf_writer
import secpipe.outputs.sarif as sarif
import secpipe.pipeline.result as result
from secpipe.model import (
    Category, Finding, Location, Resource, Secret, Severity, SourceContext, Vulnerability,
)
from secpipe.model.ocsf import asff_to_ocsf as general_asff_to_ocsf
from secpipe.outputs import write_all
from secpipe.pipeline.result import (
    GatedFinding, RunResult, StageResult, StageStatus, Suppression, ToolResult, ToolStatus,
)
from secpipe.textsafe import clean

# text a scanner could put in a title or a remediation: markup, escape sequences (an OSC
# string may run over a line break), bidi controls, C1 controls, a masked secret's ellipsis
HOSTILE = ["<b>&amp;</b>", "\x1b[2J", "\x1b]0;title\nnext\x07", "\u202eexe.txt", "\x9b31m",
           "a\tb", "line\r\nbreak", "…", "\x00\x7f", '"quoted"', "é"]
_SECRET_VALUES = [f"AKIA{n:016d}" for n in range(50)]


def _finding(rng: random.Random, n: int) -> tuple[str, Finding]:
    kind, rank = n % 5, n // 5
    text = "".join(rng.choice(HOSTILE) for _ in range(rng.randrange(4))) if rank % 3 == 0 else ""
    path = f"svc{n % 40:03d}/{'app' if n % 3 else 'my app'}/file{n % 11}.py"
    if kind == 0:
        return "secrets", Finding(
            tool=("detect-secrets", "gitleaks")[n % 2], rule_id="aws-access-key",
            title=f"AWS key in {path}{text}", severity=Severity.HIGH, category=Category.SECRET,
            description=text,
            location=Location(path, n % 90 + 1, n % 90 + 1),
            secret=Secret.from_value(_SECRET_VALUES[n % 50]), cwe=("CWE-798",),
            remediation="Revoke and rotate it.\nThen remove it from history.",
            references=("https://cwe.mitre.org/data/definitions/798.html",),
            issue_key=f"issue/{n % 50}", related=(f"secpipe/gitleaks/{n % 50:032x}",))
    if kind == 1:
        return "iac", Finding(
            tool="checkov", rule_id=f"CKV_AWS_{n % 30}", title=f"Bucket is public{text}",
            severity=Severity(rank % 5), description=f"The bucket allows public reads.{text}",
            location=Location(f"tf/main{n % 9}.tf", n % 200, n % 200 + 3),
            remediation_url="https://docs.example.com/fix" if n % 2 else "javascript:x()",
            properties={"resource": f"aws_s3_bucket.b{n}"}, confidence=n % 101)
    if kind == 2:
        return "iac", Finding(
            tool="checkov", rule_id="CKV_K8S_16", title="Container runs as root",
            severity=Severity.CRITICAL, category=Category.COMPLIANCE,
            resource=Resource("KubernetesDeployment", f"Deployment/default/web{n}",
                              {"namespace": "default"}))
    if kind == 3:
        return "code", Finding(
            tool="semgrep", rule_id="python.lang.security.eval", title=f"eval of input{text}",
            severity=Severity.MEDIUM, category=Category.CODE, cwe=("CWE-95", "CWE-94"),
            location=Location(path, n % 50 + 1), description="")
    return "deps", Finding(
        tool="trivy", rule_id=f"CVE-2024-{n:05d}", title=f"openssl {n}", severity=Severity.LOW,
        category=Category.VULNERABILITY, location=Location("requirements.txt"),
        vulnerabilities=(Vulnerability(f"CVE-2024-{n:05d}", "openssl", "1.0", "1.1",
                                       cvss_score=(7.5, 1e-05, 9.8, 0.0)[n % 4],
                                       cvss_vector="CVSS:3.1/AV:N", urls=("https://nvd",)),))


def _big_run(count: int = 2000) -> RunResult:
    rng = random.Random(15)
    by_stage: dict[str, list[GatedFinding]] = {}
    tools: dict[tuple[str, str], ToolResult] = {}
    sup = Suppression(reason="accepted", expires="2099-01-01", rule="CKV_AWS_3")
    hub_sup = Suppression(reason="triaged", expires="", source="hub", actor="alice")
    for n in range(count):
        stage, f = _finding(rng, n)
        tool = tools.setdefault((stage, f.tool), ToolResult(
            f.tool, stage, ToolStatus.OK, "1.0", 1, 1.5, [f.tool], f"raw/{f.tool}.json",
            f"logs/{f.tool}.log", None, []))
        tool.findings.append(f)
        suppressed = sup if n % 13 == 0 else hub_sup if n % 17 == 0 else None
        by_stage.setdefault(stage, []).append(GatedFinding(
            f, stage, f"secpipe/{f.tool}/{f.fingerprint()}",
            blocking=suppressed is None and f.severity >= Severity.HIGH, suppressed_by=suppressed))
    stages = [StageResult(name, StageStatus.FAILED, Severity.HIGH,
                          "advisory" if name == "code" else "enforce",
                          [t for (s, _), t in tools.items() if s == name], gated, 2.0, None)
              for name, gated in by_stage.items()]
    ctx = SourceContext(repo="acme/web", branch="main", commit="c" * 40, run_id="r-big",
                        observed_at="2026-01-01T00:00:00.000Z")
    return RunResult("r-big", "/repo", "/repo/.secpipe/runs/r-big", ctx, "2026-01-01T00:00:00Z",
                     "2026-01-01T00:01:00Z", stages)


# the former code, frozen
def _old_severity_counts(findings: list[Finding]) -> dict[str, int]:
    counts = {s.name: 0 for s in sorted(Severity, reverse=True)}
    for f in findings:
        counts[f.severity.name] += 1
    return counts


class _Strings:   # _html_data._Strings, before (the tables held whole)
    def __init__(self) -> None:
        self.index: dict[str, int] = {"": 0}
        self.table: list[str] = [""]

    def indexer(self):
        def of(value: object) -> int:
            text = "" if value is None else str(value)
            found = self.index.get(text)
            if found is None:
                found = self.index[text] = len(self.table)
                self.table.append(clean(text))
            return found
        return of


def _old_group_view(data, details, members):   # _html_data.group_view, before: a dict
    from secpipe.outputs._html_data import DETAIL_FIELDS, FIELDS, SHORT_NAMES, STATES

    rows = data["findings"]
    first = rows[members[0]]
    field = {name: i for i, name in enumerate(FIELDS)}

    def s(name: str) -> str:
        table = details["strings"] if name in DETAIL_FIELDS else data["strings"]
        return table[first[field[name]]]

    rank = first[field["rank"]]
    severity = Severity(rank)
    state = STATES[min(rows[m][field["state"]] for m in members)]
    return dict(
        severity=severity.name, short=SHORT_NAMES[severity], rank=rank,
        stage=s("stage"), tool=s("tool"), rule=s("rule"), link=s("link") or None,
        where=s("where"), title=s("title"), description=s("description"),
        remediation=s("remediation"), secret=s("secret"), state=state,
        suppression=s("suppression"), count=len(members),
    )


def _old_build(run, ordered, origins):   # _html_data.build, before
    from secpipe.outputs._common import link_for, secret_text, where
    from secpipe.outputs._html_data import (
        DETAIL_FIELDS, FIELDS, SHORT_NAMES, STATES, state_of,
    )

    string_table, details_table = _Strings(), _Strings()
    strings, details = string_table.indexer(), details_table.indexer()
    rows: list[list[int]] = []
    groups: dict[str, list[int]] = {}
    for stage, gated in ordered:
        f = gated.finding
        sup = gated.suppressed_by
        rows.append([
            strings(where(f)), STATES.index(state_of(stage, gated)),
            strings(gated.stage or stage.name), strings(origins.tool_name(stage, gated)),
            strings(f.rule_id), strings(f.title.strip() or f.rule_id), strings(secret_text(f)),
            details(gated.asff_id), strings(sup.describe() if sup is not None else ""),
            strings(link_for(f) or ""), details(f.description.strip()),
            strings(f.remediation or ""), int(f.severity),
        ])
        key = getattr(f, "issue_key", None) or f.fingerprint()
        groups.setdefault(key, []).append(len(rows) - 1)
    members = list(groups.values())
    data = {
        "fields": FIELDS, "states": STATES,
        "severities": {int(s): [s.name, SHORT_NAMES[s]] for s in Severity},
        "details": DETAIL_FIELDS, "strings": string_table.table, "findings": rows,
        "groups": members,
    }
    return data, {"strings": details_table.table}, members


def _old_html_context(run):   # outputs.html.html_context, before: the blocks' text in the page
    import base64
    import hashlib

    from markupsafe import Markup

    from secpipe.outputs import html
    from secpipe.outputs._common import Origins, all_gated, gate_lines, sorted_findings
    from secpipe.outputs.summary import run_fixes

    origins = Origins(run)
    digest = base64.b64encode(hashlib.sha256(html._SCRIPT.encode("utf-8")).digest()).decode()
    ordered = sorted_findings(all_gated(run))
    data, details, groups = _old_build(run, ordered, origins)
    return {
        "run": run, "ctx": run.context, "verdict": run.verdict, "gate_lines": gate_lines(run),
        "severities": [(s.name, html.SHORT_NAMES[s], int(s)) for s in html.SEVERITIES],
        "totals": html._totals(run), "stages": [html._stage(stage) for stage in run.stages],
        "findings": [_old_group_view(data, details, m) for m in groups[:html.FIRST_PAGE]],
        "total_findings": len(ordered), "groups_total": len(groups),
        "data_json": Markup(html_data.to_script_json(data)),
        "details_json": Markup(html_data.to_script_json(details)),
        "stage_names": [s.name for s in run.stages],
        "tool_names": sorted({origins.tool_name(stage, g) for stage, g in ordered}),
        "expired": run.expired_suppressions,
        "fixes": [fix.as_dict() for fix in run_fixes(run)], "script": Markup(html._SCRIPT),
        "csp": (f"default-src 'none'; style-src 'unsafe-inline'; "
                f"script-src 'sha256-{digest}'; img-src data:; base-uri 'none'; "
                f"form-action 'none'"),
    }


def _old_write_html(run, run_dir):   # the page rendered with the blocks' whole text
    from secpipe.outputs import html
    from secpipe.outputs._common import write_file

    page = html.environment().get_template(html.TEMPLATE).render(**_old_html_context(run))
    return write_file(Path(run_dir) / html.FILE_NAME, page)


def _old_writers(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import secpipe.outputs as outputs
    import secpipe.outputs._common as common

    monkeypatch.setattr(result, "severity_counts", _old_severity_counts)
    monkeypatch.setattr(common, "severity_counts", _old_severity_counts)
    monkeypatch.setitem(outputs.WRITERS, "html", _old_write_html)
    monkeypatch.setattr(junit, "_clean_lines", lambda lines: clean("\n".join(lines)))
    monkeypatch.setattr(junit, "_text", lambda text: junit.escape(text))
    monkeypatch.setattr(junit, "_attr_special", lambda text: True)   # escape every value
    monkeypatch.setattr(sarif, "_absolute", os.path.isabs)
    # the reference mapping, for the direct path's events
    monkeypatch.setattr(ocsf_writer, "own_shape_event", general_asff_to_ocsf)


def test_a_large_run_writes_the_same_bytes_as_the_former_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _big_run()
    new = write_all(run, tmp_path / "new")
    with monkeypatch.context() as patched:
        _old_writers(patched)
        old = write_all(_big_run(), tmp_path / "old")
    assert set(new) == set(old) == {"asff", "ocsf", "summary", "sarif", "junit", "html"}
    for name in new:
        assert Path(new[name]).read_bytes() == Path(old[name]).read_bytes(), name
    # the generated run reaches what the speed-ups distinguish
    assert b"1e-05" in Path(new["ocsf"]).read_bytes()
    cases = Path(new["junit"]).read_text(encoding="utf-8")
    assert "&lt;b&gt;" in cases and "…" in cases
    assert "\ufffd" in Path(new["sarif"]).read_text(encoding="utf-8")   # a bidi control, shown


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(
    list("ab <&\t\r\x1b\x07\x9b\x9c\x00\x7f\u202e\u2066…é]0;[") + ["\n"])), max_size=6))
def test_junit_cleans_lines_as_clean_of_their_join(lines: list[str]) -> None:
    assert junit._clean_lines(lines) == clean("\n".join(lines))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(Severity)), max_size=40))
def test_severity_counts_as_before(severities: list[Severity]) -> None:
    findings = [SimpleNamespace(severity=s) for s in severities]
    got = result.severity_counts(findings)  # type: ignore[arg-type]
    want = _old_severity_counts(findings)  # type: ignore[arg-type]
    assert got == want and list(got) == list(want)


def _old_json_chunks(value, *, spread=3, _indent=""):   # outputs._stream.json_chunks, before
    from collections.abc import Iterator

    from secpipe.outputs._stream import Encoded, _encode

    if isinstance(value, Encoded):
        yield value
        return
    if spread <= 0 or not isinstance(value, (dict, list, tuple, Iterator)):
        yield _encode(value)
        return
    inner = _indent + " "
    if isinstance(value, dict):
        if not value:
            yield "{}"
            return
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield ("\n" if i == 0 else ",\n") + inner + _encode(str(key)) + ":"
            yield from _old_json_chunks(item, spread=spread - 1, _indent=inner)
        yield "\n" + _indent + "}"
        return
    first = True
    for item in value:
        yield ("[\n" if first else ",\n") + inner
        first = False
        yield from _old_json_chunks(item, spread=spread - 1, _indent=inner)
    yield "[]" if first else "\n" + _indent + "]"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=3), inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.integers(0, 5), st.booleans(), st.booleans())
def test_json_chunks_give_the_text_they_gave(value, spread: int, as_iterator: bool,
                                             encoded: bool) -> None:
    """Elements written on one line now go out with their separator as one piece: the same
    text, for lists, tuples and iterators, of Encoded elements or not."""
    from secpipe.outputs._stream import encode, json_chunks

    def make():
        items = value
        if isinstance(value, list) and encoded:
            items = [encode(v) for v in value]
        return iter(items) if as_iterator and spread and isinstance(items, list) else items

    assert "".join(json_chunks(make(), spread=spread)) == "".join(
        _old_json_chunks(make(), spread=spread))


class _OldOrigins:   # outputs._common.Origins' lookups, before
    def __init__(self, run: RunResult) -> None:
        self._by_object: dict[int, ToolResult] = {}
        self._by_fingerprint: dict | None = None
        self._keep = run
        self._in_stage: set[tuple[int, int]] = set()
        for stage in run.stages:
            for tool in stage.tools:
                self._in_stage.add((id(stage), id(tool)))
                for f in tool.findings:
                    self._by_object.setdefault(id(f), tool)

    def _fingerprints(self) -> dict:
        if self._by_fingerprint is None:
            self._by_fingerprint = {}
            for stage in self._keep.stages:
                for tool in stage.tools:
                    for f in tool.findings:
                        self._by_fingerprint.setdefault((id(stage), f.fingerprint()), tool)
        return self._by_fingerprint

    def tool(self, stage, gated):
        found = self._by_object.get(id(gated.finding))
        if found is not None and (id(stage), id(found)) in self._in_stage:
            return found
        found = self._fingerprints().get((id(stage), gated.finding.fingerprint()))
        if found is not None:
            return found
        for tool in stage.tools:
            if tool.tool == gated.finding.tool:
                return tool
        return stage.tools[0] if len(stage.tools) == 1 else None

    def tool_name(self, stage, gated):
        tool = self.tool(stage, gated)
        return tool.tool if tool is not None else gated.finding.tool


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(0, 5),
                          st.sampled_from(["held", "copy", "stray"])), min_size=1, max_size=25),
       st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), max_size=4))
def test_origins_find_the_tools_they_found(placements: list, shared: list) -> None:
    """Findings held by a tool, copies of them (enrichment), strays of no tool; tools (one
    ToolResult object in two stages too) of the same or a renamed scanner: every (stage,
    finding) pair, asked of any stage, gets the tool it got before."""
    from secpipe.outputs._common import Origins

    names = ["gitleaks", "trivy", "trivy-image", "checkov"]
    stages = [StageResult(f"s{i}", StageStatus.PASSED, Severity.HIGH, "enforce", [], [], 0.0,
                          None) for i in range(3)]
    tools: dict[tuple[int, int], ToolResult] = {}
    for s, t, n, how in placements:
        tool = tools.get((s, t))
        if tool is None:
            tool = tools[s, t] = ToolResult(names[t], stages[s].name, ToolStatus.OK)
            stages[s].tools.append(tool)
        f = Finding(tool=names[(t + n) % 4] if how == "stray" else names[t],
                    rule_id=f"r{n}", title="t", severity=Severity.LOW)
        if how != "stray":
            tool.findings.append(f)
        held = f.with_(title="copy") if how == "copy" else f
        stages[s].findings.append(GatedFinding(held, stages[s].name, "id"))
    for a, b in shared:   # one ToolResult object listed in a second stage
        if stages[a].tools and stages[a].tools[0] not in stages[b].tools:
            stages[b].tools.append(stages[a].tools[0])
    run = RunResult("r", "/repo", "/repo/run", SourceContext(), "", "", stages)
    new, old = Origins(run), _OldOrigins(run)
    for asked in stages:
        for stage in stages:
            for gated in stage.findings:
                assert new.tool(asked, gated) is old.tool(asked, gated)
                assert new.tool_name(asked, gated) == old.tool_name(asked, gated)


def test_findings_are_ordered_as_before() -> None:
    from secpipe.outputs._common import _order, all_gated, sorted_findings

    def old(sg):   # the former key of sorted_findings
        return (-int(sg[1].finding.severity), not sg[1].blocking,
                sg[1].suppressed_by is not None, sg[1].finding.path or "",
                sg[1].finding.location.start_line or 0 if sg[1].finding.location else 0,
                sg[1].finding.rule_id)

    items = all_gated(_big_run(400))
    places = (None, Location(""), Location("a", None), Location("a", 0), Location("a", 7))
    odd = [Finding(tool="t", rule_id="r", title="x", severity=Severity.LOW, location=loc)
           for loc in places]
    items += [(items[0][0], GatedFinding(f, "s", "id", blocking=b)) for f in odd
              for b in (False, True)]
    assert [_order(i) for i in items] == [old(i) for i in items]
    assert sorted_findings(items) == sorted(items, key=old)


def test_the_page_written_piece_by_piece_is_the_rendered_page(tmp_path: Path) -> None:
    """write_html streams the template's pieces to the file; render_html joins them."""
    import secpipe.outputs.html as html

    run = _big_run(300)
    written = html.write_html(run, tmp_path)
    assert written.read_bytes() == html.render_html(run).encode("utf-8")


@pytest.mark.parametrize(("small", "long_text"), [(False, 8), (True, 8), (False, None)])
def test_the_page_is_the_same_with_digest_keys_and_small_pieces(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small: bool,
        long_text: int | None) -> None:
    """report.html's blocks compressed as they are built (outputs._html_pack): texts that are
    long or not ASCII keyed by digest (as in a run of 10,000 findings or more; at the real
    length too, so short ASCII keys and digests of short "…" and "é" texts meet in one
    table), and with `small` every table, row list and compressor input cut into pieces of a
    few elements, give the former page."""
    import functools

    import secpipe.outputs._html_pack as html_pack
    from secpipe.outputs.html import write_html

    monkeypatch.setattr(html_data, "LARGE_RUN", 0)
    if long_text is not None:
        monkeypatch.setattr(html_pack, "LONG_TEXT", long_text)
    if small:
        monkeypatch.setattr(html_data, "StreamedStrings",
                            functools.partial(html_pack.StreamedStrings, chunk=3))
        monkeypatch.setattr(html_data, "RawArray", functools.partial(html_data.RawArray, 5))
        monkeypatch.setattr(html_pack, "_FEED_AT", 7)
    new = write_html(_big_run(), tmp_path / "new").read_bytes()
    old = _old_write_html(_big_run(), tmp_path / "old").read_bytes()
    assert new == old


def test_base64_lines_are_encodebytes_of_the_whole() -> None:
    import base64

    rng = random.Random(8)
    for sizes in ([], [0], [1], [57], [58, 57 * 1024 - 1, 3], [57 * 1024 * 2 + 5, 100_000]):
        pieces = [rng.randbytes(n) for n in sizes]
        want = base64.encodebytes(b"".join(pieces)).decode("ascii")
        assert "".join(html_data.base64_lines(list(pieces))) == want


def _old_issue_counts(run, stage=None):   # outputs._issues.issue_counts, before
    from secpipe.outputs._issues import issue_key

    stages = [stage] if stage is not None else list(run.stages)
    worst, blocking, tools = {}, set(), {}
    for s in stages:
        for g in s.findings:
            key = issue_key(g)
            sev = g.finding.severity
            if key not in worst or sev > worst[key]:
                worst[key] = sev
            if g.blocking:
                blocking.add(key)
            tools.setdefault(key, set()).add(g.finding.tool)
    by_severity = {s.name: 0 for s in sorted(Severity, reverse=True)}
    for sev in worst.values():
        by_severity[sev.name] += 1
    return {"issues": len(worst), "issue_counts": by_severity,
            "blocking_issues": len(blocking),
            "multi_tool_issues": sum(1 for t in tools.values() if len(t) > 1)}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from("abcdef"), st.sampled_from(list(Severity)),
                                   st.sampled_from(["t1", "t2", "t3"]), st.booleans()),
                         max_size=12), max_size=3))
def test_issue_counts_as_before(stages) -> None:
    from secpipe.outputs._issues import issue_counts

    run = SimpleNamespace(stages=[SimpleNamespace(findings=[
        SimpleNamespace(finding=SimpleNamespace(issue_key=key, severity=sev, tool=tool),
                        blocking=blocking) for key, sev, tool, blocking in stage])
        for stage in stages])
    assert issue_counts(run) == _old_issue_counts(run)   # type: ignore[arg-type]
    for stage in run.stages:
        assert issue_counts(run, stage) == _old_issue_counts(run, stage)  # type: ignore[arg-type]
