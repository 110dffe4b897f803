"""A finding's custom actions in the dashboard: the "Send" button that does what choosing a
custom action in Security Hub's console does (see `secpipe.hub.custom_action`), with the
signed-in user as the actor of the audit row."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from secpipe.hub import custom_action
from secpipe.hub.dashboard import security as sec
from secpipe.hub.dashboard.app import Page
from secpipe.hub.dashboard.formkeys import identifiers
from secpipe.hub.interface import HubError


def targets(store: Any) -> list[dict[str, Any]]:
    """The action targets a finding page offers (the hub's own account and region)."""
    found, _ = store.describe_action_targets(max_results=100)
    return found


async def send(page: Page) -> Response:
    back = sec.safe_next(page.field("back"), page.base)
    idents = identifiers(page.form.get("finding", []))
    arn = page.field("action_target")
    if not idents or not arn:
        page.flash("error", "Nothing sent: choose a custom action.")
        return page.redirect(back)
    sender = custom_action.sender_of(page.request.app)
    try:
        outcome = await page.run(page.store.invoke_action_target, arn, idents, sender,
                                 principal=page.principal)
    except HubError as err:
        page.flash("error", f"Nothing sent: {err.message[:300]}")
        return page.redirect(back)
    if outcome["Status"] == "sent":
        page.flash("ok", f"Sent to {outcome['Rule']}.")
    else:
        why = "; ".join(f"{c['Channel']}: {c['Error']}" for c in outcome["Channels"]
                        if not c["Ok"])[:300]
        page.flash("error", f"Sending to {outcome['Rule']} {outcome['Status']}: {why}")
    return page.redirect(back)
