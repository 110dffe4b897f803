"""Who may do what on the hub: principals, roles, scopes, and the one operation table.

Every credential the hub accepts (an access key, the hub token, a dashboard user, and the
local caller that opens the database itself) is a `Principal` with exactly one role and a
scope. A role is a fixed set of permissions; an operation (a Security Hub call, a native route,
a dashboard action) needs exactly one permission, named in `OPERATIONS`. A route whose
operation is missing from that table cannot be built (KeyError at import), so nothing is
reachable without a decision written down here.

Scopes narrow `ci` (and optionally `triage`) keys: repository globs, branch globs and
ProductArn globs (fnmatch, `*` = any). A protected branch (`hub serve --protected-branch`,
default main, master, release/*) accepts runs only from admin or from a ci key whose branch
globs name it explicitly - a bare `*` is not enough - so one ordinary CI key cannot rewrite
what `main` looks like.

Pure: no database, no HTTP. The store and the API both import it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Iterable, Mapping

from secpipe.hub.interface import AccessDenied, InvalidInput

ROLES = ("admin", "ci", "runtime", "triage", "read")

# --- permissions -----------------------------------------------------------------------------
FINDINGS_READ = "findings:read"        # GetFindings, insights read, DescribeHub, history
RUNS_READ = "runs:read"                # /v1/runs, run diffs, /v1/baseline, runtime alerts
FINDINGS_IMPORT = "findings:import"    # BatchImportFindings
RUNS_WRITE = "runs:write"              # POST /v1/runs, a run's images
FINDINGS_UPDATE = "findings:update"    # BatchUpdateFindings, dashboard triage
INSIGHTS_WRITE = "insights:write"      # Create/Update/DeleteInsight
HUB_ADMIN = "hub:admin"                # EnableSecurityHub, keys, users
AUDIT_READ = "audit:read"              # the audit trail (CLI, dashboard page)
FALCO_INTAKE = "falco:intake"          # POST /falco
IMAGES_WRITE = "images:write"          # the images a run built or deployed (runtime correlation)
OSV_QUERY = "osv:query"                # the OSV query API (when not --public-osv)
DASHBOARD_LOGIN = "dashboard:login"    # signing in to /ui
# Create/BatchUpdate/BatchDeleteAutomationRules: a rule is a standing triage decision (it can
# suppress every future finding that matches), so it takes a triage role, never a ci key
RULES_WRITE = "rules:write"

PERMISSIONS = (FINDINGS_READ, RUNS_READ, FINDINGS_IMPORT, RUNS_WRITE, FINDINGS_UPDATE,
               INSIGHTS_WRITE, HUB_ADMIN, AUDIT_READ, FALCO_INTAKE, IMAGES_WRITE, OSV_QUERY,
               DASHBOARD_LOGIN, RULES_WRITE)

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "ci": frozenset({FINDINGS_IMPORT, RUNS_WRITE, RUNS_READ, IMAGES_WRITE, OSV_QUERY}),
    "runtime": frozenset({FALCO_INTAKE, IMAGES_WRITE, OSV_QUERY}),
    "triage": frozenset({FINDINGS_READ, RUNS_READ, FINDINGS_UPDATE, INSIGHTS_WRITE,
                         DASHBOARD_LOGIN, OSV_QUERY, RULES_WRITE}),
    "read": frozenset({FINDINGS_READ, RUNS_READ, DASHBOARD_LOGIN, OSV_QUERY}),
}

# --- the one table: operation -> permission ----------------------------------------------------
OPERATIONS: dict[str, str] = {
    # Security Hub (REST-JSON)
    "BatchImportFindings": FINDINGS_IMPORT,
    "BatchUpdateFindings": FINDINGS_UPDATE,
    "GetFindings": FINDINGS_READ,
    "GetInsights": FINDINGS_READ,
    "GetInsightResults": FINDINGS_READ,
    "CreateInsight": INSIGHTS_WRITE,
    "UpdateInsight": INSIGHTS_WRITE,
    "DeleteInsight": INSIGHTS_WRITE,
    "EnableSecurityHub": HUB_ADMIN,
    "DescribeHub": FINDINGS_READ,
    # products (hub/api/products.py): reading the registry and subscriptions is reading the
    # hub; choosing which products may import is the hub's administration
    "DescribeProducts": FINDINGS_READ,
    "ListEnabledProductsForImport": FINDINGS_READ,
    "EnableImportFindingsForProduct": HUB_ADMIN,
    "DisableImportFindingsForProduct": HUB_ADMIN,
    # the rest of the findings family (GetFindingHistory is below, shared with /v1)
    "UpdateFindings": FINDINGS_UPDATE,          # legacy triage, as BatchUpdateFindings
    "GetFindingsV2": FINDINGS_READ,
    "DescribeActionTargets": FINDINGS_READ,
    "CreateActionTarget": HUB_ADMIN,            # custom actions are hub configuration
    "UpdateActionTarget": HUB_ADMIN,
    "DeleteActionTarget": HUB_ADMIN,
    "InvokeActionTarget": FINDINGS_UPDATE,      # sending a finding on is a triage act
    "TagResource": HUB_ADMIN,
    "UntagResource": HUB_ADMIN,
    "ListTagsForResource": FINDINGS_READ,
    # automation rules (hub/api/rules.py): a rule is a standing suppression, see RULES_WRITE
    "CreateAutomationRule": RULES_WRITE,
    "BatchUpdateAutomationRules": RULES_WRITE,
    "BatchDeleteAutomationRules": RULES_WRITE,
    "BatchGetAutomationRules": FINDINGS_READ,
    "ListAutomationRules": FINDINGS_READ,
    # native /v1
    "ListRuns": RUNS_READ,
    "GetRun": RUNS_READ,
    "GetRunDiff": RUNS_READ,
    "GetBaseline": RUNS_READ,
    "GetFindingHistory": FINDINGS_READ,
    "RecordRun": RUNS_WRITE,
    # the hub's suppressions for the gate of the run being recorded (hub/api/suppressions.py)
    "GetHubSuppressions": RUNS_WRITE,
    "PreviewRuleSuppressions": RUNS_WRITE,
    "GetRunRuntime": RUNS_READ,
    "GetRunImages": RUNS_READ,
    "RecordRunImages": IMAGES_WRITE,      # `secpipe falco image` with the hub token
    # runtime intake and the OSV API
    "FalcoIntake": FALCO_INTAKE,
    # the alerts the intake set aside and why: for whoever runs Falco (its token) and admins
    "ListFalcoDeadLetters": FALCO_INTAKE,
    "OsvQuery": OSV_QUERY,
    # dashboard
    "DashboardLogin": DASHBOARD_LOGIN,
    "DashboardRead": FINDINGS_READ,
    "DashboardTriage": FINDINGS_UPDATE,
    "DashboardAction": FINDINGS_UPDATE,        # a finding's custom action button
    "DashboardAudit": AUDIT_READ,
    # administration (CLI over the database, audit reads)
    "ManageKeys": HUB_ADMIN,
    "ManageUsers": HUB_ADMIN,
    "ReadAudit": AUDIT_READ,
}

DEFAULT_PROTECTED = ("main", "master", "release/*")
DEFAULT_FUTURE_SKEW = 24 * 3600.0
ENV_TOKEN_ROLE = "SECPIPE_HUB_TOKEN_ROLE"
ENV_KEY_ROLE = "SECPIPE_HUB_ACCESS_KEY_ROLE"
ENV_FUTURE_SKEW = "SECPIPE_HUB_MAX_FUTURE_SKEW_HOURS"


def permission_for(operation: str) -> str:
    """The permission an operation needs; KeyError for an operation nobody decided on."""
    return OPERATIONS[operation]


def check_role(role: str) -> str:
    if role not in ROLE_PERMISSIONS:
        raise InvalidInput(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


@dataclass(frozen=True)
class Scope:
    """What a principal's writes may touch: globs over repositories, branches, ProductArns.
    `("*",)` is everything (the default for each part)."""

    repos: tuple[str, ...] = ("*",)
    branches: tuple[str, ...] = ("*",)
    product_arns: tuple[str, ...] = ("*",)

    @staticmethod
    def of(repos: Iterable[str] = (), branches: Iterable[str] = (),
           product_arns: Iterable[str] = ()) -> "Scope":
        def clean(globs: Iterable[str], what: str) -> tuple[str, ...]:
            out = tuple(g.strip() for g in globs if g is not None)
            if any(not g or len(g) > 512 or any(ord(c) < 32 for c in g) for g in out):
                raise InvalidInput(f"{what} globs must be 1-512 printable characters")
            return out or ("*",)
        return Scope(clean(repos, "repo"), clean(branches, "branch"),
                     clean(product_arns, "ProductArn"))

    def to_json(self) -> dict[str, list[str]]:
        return {"repos": list(self.repos), "branches": list(self.branches),
                "product_arns": list(self.product_arns)}

    @staticmethod
    def from_json(data: Mapping[str, Any] | None) -> "Scope":
        data = data or {}
        return Scope.of(data.get("repos") or (), data.get("branches") or (),
                        data.get("product_arns") or ())

    def covers_repo(self, repo: str | None) -> bool:
        if self.repos == ("*",):
            return True
        return repo is not None and any(fnmatchcase(repo, g) for g in self.repos)

    def covers_branch(self, branch: str) -> bool:
        return any(fnmatchcase(branch, g) for g in self.branches)

    def names_branch(self, branch: str) -> bool:
        """Covers the branch with a glob that is more than a bare wildcard."""
        return any(g.strip("*?") and fnmatchcase(branch, g) for g in self.branches)

    def covers_product(self, arn: str) -> bool:
        return any(fnmatchcase(arn, g) for g in self.product_arns)

    def describe(self) -> str:
        return (f"repo {','.join(self.repos)} branch {','.join(self.branches)} "
                f"product {','.join(self.product_arns)}")


EVERYTHING = Scope()


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request (or the local caller of a store method).

    `name` is stable per credential - the access key id, "token", "user:NAME", "local" - so
    rate limits and the audit trail can key on it. `source` is the client address."""

    kind: str                       # sigv4 | token | user | local | anonymous
    name: str
    region: str = ""
    role: str = "read"
    scope: Scope = field(default=EVERYTHING)
    source: str = ""

    def can(self, permission: str) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())

    def with_source(self, source: str) -> "Principal":
        return Principal(self.kind, self.name, self.region, self.role, self.scope, source)

    def describe(self) -> str:
        return f"{self.name} (role {self.role})"


ANONYMOUS = Principal("anonymous", "anonymous", role="none")


def local_principal() -> Principal:
    """Whoever opens the database directly (the CLI without an http hub, `secpipe run` into
    its own hub.db) holds everything already; they act as admin, named after the OS user."""
    try:
        import getpass
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return Principal("local", f"local:{user}", role="admin")


def require(principal: Principal | None, operation: str) -> None:
    """AccessDenied (403) naming the missing permission, unless `principal` holds it.
    None is the trusted local caller."""
    needed = OPERATIONS.get(operation)
    if needed is None:        # no decision written down for it: nobody may (fail closed)
        raise AccessDenied(f"operation {operation!r} is not in the hub's permission table")
    if principal is None or principal.can(needed):
        return
    raise AccessDenied(f"{principal.describe()} is not authorized to perform {operation}: "
                       f"it needs the {needed} permission")


@dataclass(frozen=True)
class Policy:
    """Hub-wide settings of the rules: protected branches and the allowed clock skew of
    imported timestamps. `hub serve --protected-branch / --max-future-skew` set them."""

    protected_branches: tuple[str, ...] = DEFAULT_PROTECTED
    future_skew: float = DEFAULT_FUTURE_SKEW

    @staticmethod
    def from_env(protected: Iterable[str] | None = None) -> "Policy":
        skew = DEFAULT_FUTURE_SKEW
        raw = os.environ.get(ENV_FUTURE_SKEW)
        if raw:
            try:
                skew = float(raw) * 3600.0
            except ValueError:
                raise InvalidInput(f"{ENV_FUTURE_SKEW} must be a number of hours") from None
        globs = tuple(protected) if protected else DEFAULT_PROTECTED
        return Policy(globs, skew)

    def is_protected(self, branch: str) -> bool:
        return any(fnmatchcase(branch, g) for g in self.protected_branches)


def may_write_run(principal: Principal | None, repo: str, branch: str, policy: Policy) -> None:
    """AccessDenied unless `principal` may record a run for repo/branch."""
    require(principal, "RecordRun")
    if principal is None or principal.role == "admin":
        return
    scope = principal.scope
    if not scope.covers_repo(repo):
        raise AccessDenied(f"{principal.describe()} may not record runs for repository "
                           f"{repo!r} (its scope: {scope.describe()})")
    if not scope.covers_branch(branch):
        raise AccessDenied(f"{principal.describe()} may not record runs for branch {branch!r} "
                           f"(its scope: {scope.describe()})")
    if policy.is_protected(branch) and not scope.names_branch(branch):
        raise AccessDenied(f"branch {branch!r} is protected: only admin or a ci key scoped to "
                           f"that branch (--branch {branch}) may record its runs; "
                           f"{principal.describe()} has {scope.describe()}")


def trusted_writer(role: str, scope: Scope, repo: str, branch: str, policy: Policy) -> bool:
    """Does a run written by (role, scope) count for repo/branch's baseline? Judged with
    today's policy, so a branch protected later stops trusting runs it would now refuse."""
    if role in ("admin", "legacy"):
        return True
    if role != "ci":
        return False
    if not (scope.covers_repo(repo) and scope.covers_branch(branch)):
        return False
    return not policy.is_protected(branch) or scope.names_branch(branch)
