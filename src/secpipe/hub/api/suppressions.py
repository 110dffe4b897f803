"""Native routes through which `secpipe run --hub http(s)://...` learns the hub's suppressions
(secpipe.pipeline.hubsync): the ones it holds for a repository, and what its automation rules
will do to a run's findings before they are recorded.

Both take the `RunsWrite` permission of the key that records the run (the first one reopens
expired suppressions, a write the hub decides, not the caller), and a key scoped to repositories
learns only about its own: the repository must be in scope, and a finding of another repository
is left out of the rules' preview.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from secpipe.hub.api.endpoint import Call, endpoint
from secpipe.hub.interface import AccessDenied, InvalidInput

REPO_KEY = "secpipe/Repo"
MAX_PREVIEW = 100000


def _in_scope(call: Call, repo: Any) -> bool:
    caller = call.caller
    return caller.role == "admin" or caller.scope.covers_repo(repo if isinstance(repo, str)
                                                              else None)


async def held(call: Call) -> dict[str, Any]:
    """POST /v1/suppressions {"repo"}: {"honoured": [...], "expired": [...]}."""
    repo = call.body.get("repo")
    if not isinstance(repo, str) or not 0 < len(repo) <= 512:
        raise InvalidInput("repo (a repository name) is required")
    if not _in_scope(call, repo):
        raise AccessDenied(f"{call.caller.describe()} may not read the suppressions of "
                           f"repository {repo!r}")
    honoured, expired = await call.run(call.store.hub_suppressions, repo,
                                       principal=call.caller)
    return {"honoured": [s.as_dict() for s in honoured],
            "expired": [s.as_dict() for s in expired]}


async def by_rules(call: Call) -> dict[str, Any]:
    """POST /v1/suppressions/rules {"findings": [ASFF]}: {"suppressions": [...]}."""
    findings = call.body.get("findings")
    if not isinstance(findings, list) or len(findings) > MAX_PREVIEW:
        raise InvalidInput(f"findings must be a list of at most {MAX_PREVIEW} ASFF findings")
    mine = [f for f in findings if isinstance(f, dict)
            and isinstance(f.get("ProductFields"), dict)
            and _in_scope(call, f["ProductFields"].get(REPO_KEY))]
    found = await call.run(call.store.rule_suppressions, mine)
    return {"suppressions": [s.as_dict() for s in found]}


def routes() -> list[Route]:
    return [
        Route("/v1/suppressions", endpoint(held, operation="GetHubSuppressions", bearer=True),
              methods=["POST"]),
        Route("/v1/suppressions/rules",
              endpoint(by_rules, operation="PreviewRuleSuppressions", bearer=True),
              methods=["POST"]),
    ]
