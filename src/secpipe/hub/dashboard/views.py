"""The dashboard's read pages: overview, findings list, finding detail, runs, one run.

Handlers only gather data (blocking store calls run in the threadpool through `data`) and
hand plain values to the templates; all markup, and so all escaping, is in Jinja.
"""

from __future__ import annotations

import json

from starlette.responses import Response

from secpipe.hub.dashboard import actions_page, charts, data
from secpipe.hub.dashboard.app import Page, safe_url
from secpipe.hub.dashboard.filters import (PAGE_SIZES, RECORD_STATES, SEVERITIES, WORKFLOWS,
                                           FindingQuery)
from secpipe.hub.dashboard.triage import EXPIRY_KEY, expired, finding_key
from secpipe.hub.interface import ResourceNotFound

SORT_LABELS = [("severity", "Severity"), ("updated", "Last updated"),
               ("first_seen", "First seen"), ("title", "Title")]
TREND_RUNS = 30


async def overview(page: Page) -> Response:
    o = await page.run(data.overview, page.store)
    base = page.base
    sev_rows = [(s, o.by_severity.get(s, 0), f"sev-{s}", f"{base}/findings?severity={s}")
                for s in SEVERITIES]
    q = FindingQuery()

    def rows(counts: list[tuple[str, int]], key: str) -> list[tuple[str, int, str, str]]:
        return [(name or "(none)", n, "", q.url(f"{base}/findings", **{key: name}))
                for name, n in counts if name]

    runs = await page.run(data.run_rows, page.store, TREND_RUNS)
    points = [{"label": r["short"], "href": f"{base}/runs/{r['run_id_q']}",
               "title": f"{r['run_id']} ({r['branch']}, {r['finished_at']})",
               "counts": r["counts"], "new": r["new"]} for r in reversed(runs)]
    return page.render(
        "overview.html", nav="overview", page_title="Overview",
        open_total=o.total, by_severity=[(s, o.by_severity.get(s, 0)) for s in SEVERITIES],
        suppressed=o.suppressed, expired=o.expired,
        sev_chart=charts.hbars(sev_rows),
        stage_chart=charts.hbars(rows(o.by_stage, "stage")),
        tool_chart=charts.hbars(rows(o.by_tool, "tool")),
        trend=charts.trend(points), runs=runs[:10],
    )


async def findings(page: Page) -> Response:
    q = FindingQuery.from_params(page.request.query_params)
    base = f"{page.base}/findings"
    result = await page.run(data.search, page.store, q)
    choices = await page.run(data.choices, page.store)
    return page.render(
        "findings.html", nav="findings", page_title="Findings", q=q,
        findings=result.findings, total=result.total,
        next_url=q.next_url(base, result.next_token), prev_url=q.prev_url(base),
        severities=SEVERITIES, workflows=WORKFLOWS, record_states=RECORD_STATES,
        sorts=SORT_LABELS, page_sizes=PAGE_SIZES, choices=choices, here=page.here(),
        expiry_key=EXPIRY_KEY,
    )


async def finding(page: Page) -> Response:
    params = page.request.query_params
    fid, arn = params.get("id", ""), params.get("arn", "")
    if not fid:
        raise ResourceNotFound("no finding named: the link lacks its id")
    f = await page.run(data.finding, page.store, fid, arn or None)
    history = await page.run(data.history, page.store, fid)
    custom = await page.run(actions_page.targets, page.store)   # the "Send" button's choices
    rec = ((f.get("Remediation") or {}).get("Recommendation") or {})
    url = rec.get("Url")
    udf = f.get("UserDefinedFields") or {}
    return page.render(
        "finding.html", nav="findings", page_title=str(f.get("Title", "Finding"))[:80], f=f,
        wf_status=(f.get("Workflow") or {}).get("Status", "NEW"),
        key=finding_key(f), here=page.here(),
        remediation_url=url if safe_url(url) else None, history=history,
        expiry_key=EXPIRY_KEY, expired=expired(udf.get(EXPIRY_KEY)),
        raw=json.dumps(f, indent=2, ensure_ascii=False, sort_keys=True),
        action_targets=custom,
    )


async def runs(page: Page) -> Response:
    params = page.request.query_params
    repo, branch = params.get("repo", "").strip()[:512], params.get("branch", "").strip()[:256]
    rows = await page.run(data.run_rows, page.store, 50, repo or None, branch or None)
    return page.render("runs.html", nav="runs", page_title="Runs", runs=rows, repo=repo,
                       branch=branch)


async def run(page: Page) -> Response:
    view = await page.run(data.run_view, page.store, page.request.path_params["run_id"])
    return page.render("run.html", nav="runs", page_title=f"Run {view['run'].run_id}", **view)


async def not_found(page: Page) -> Response:
    raise ResourceNotFound(f"no dashboard page at {page.request.url.path}")
