"""`/ui/audit`: the audit trail for admins, filtered by principal, finding or action."""

from __future__ import annotations

from starlette.responses import Response

from secpipe.hub.dashboard.app import Page

PAGE = 200


async def audit(page: Page) -> Response:
    params = page.request.query_params
    who = (params.get("principal") or "").strip()[:160]
    finding = (params.get("finding") or "").strip()[:512]
    action = (params.get("action") or "").strip()[:64]
    rows = await page.run(page.store.audit_log, principal=who or None,
                          finding=finding or None, action=action or None, limit=PAGE)
    return page.render("audit.html", page_title="Audit trail", nav="audit", rows=rows,
                       principal=who, finding=finding, action=action, limit=PAGE)
