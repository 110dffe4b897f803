"""The hub's seam: what the HTTP API, the dashboard, the CLI and the pipeline ask of a store.

Every method speaks Security Hub's own shapes (ASFF dicts, Filters, SortCriteria), so the HTTP
layer is a thin translation and boto3's `securityhub` client works unchanged against it. One
store implementation (SQLAlchemy: SQLite or PostgreSQL) serves all callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol, Sequence


class HubError(Exception):
    """Base of every hub error; `code` and `status` are Security Hub's error code and HTTP status."""

    code = "InternalException"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RetryLater(HubError):
    """A refusal that says when to come back: the answer carries `Retry-After` (whole seconds
    of `retry_after`). Rate limits (429) and a full intake (503) are its kinds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidInput(HubError):
    code, status = "InvalidInputException", 400


class InvalidAccess(HubError):
    code, status = "InvalidAccessException", 401


class AccessDenied(HubError):
    code, status = "AccessDeniedException", 403


class ResourceNotFound(HubError):
    code, status = "ResourceNotFoundException", 404


class ResourceConflict(HubError):
    code, status = "ResourceConflictException", 409


class LimitExceeded(HubError):
    code, status = "LimitExceededException", 429


@dataclass(frozen=True)
class Partition:
    """Where a Security Hub call lands: an account and a region. Security Hub keeps findings,
    insights, automation rules and action targets apart per account and region; the hub takes
    the account from its configuration and the region from the request's SigV4 scope. Store
    methods take `partition=None` to mean the store's own (configured) account and region."""

    account: str = "000000000000"
    region: str = "us-east-1"


@dataclass
class ImportResult:
    """BatchImportFindings' answer: one bad finding never fails the batch."""

    success_count: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # {Id, ErrorCode, ErrorMessage}

    @property
    def failed_count(self) -> int:
        return len(self.failed)


@dataclass
class UpdateResult:
    """BatchUpdateFindings' answer."""

    processed: list[dict[str, str]] = field(default_factory=list)    # {Id, ProductArn}
    unprocessed: list[dict[str, Any]] = field(default_factory=list)  # {FindingIdentifier, ErrorCode, ErrorMessage}


@dataclass
class RunRecord:
    """A pipeline run as the hub keeps it."""

    run_id: str
    repo: str
    branch: str
    commit: str
    started_at: str
    finished_at: str
    status: str                      # passed | failed | error
    exit_code: int
    summary: Mapping[str, Any]       # the run's summary.json
    scope: Sequence[tuple[str, str]] = ()  # (stage, tool) pairs that ran cleanly this run


@dataclass
class RunDiff:
    """What a run changed against its baseline run (the previous run of the branch, or of a
    named base branch)."""

    run_id: str
    baseline_run_id: str | None
    new: list[str] = field(default_factory=list)        # finding Ids
    recurring: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    by_stage: dict[str, dict[str, int]] = field(default_factory=dict)  # stage -> {new, recurring, fixed}
    failed: list[dict[str, str]] = field(default_factory=list)  # findings refused on import {Id, ErrorCode, ErrorMessage}


class HubStore(Protocol):
    """Writing methods of the SQL store also take a keyword `principal` (secpipe.hub.authz;
    None = the local caller): it is held to the import rules and named in the audit trail.
    Security Hub methods also take a keyword `partition` (None = the store's own account and
    region, `store.partition`); reads take `principal` too, whose scope may narrow them to
    member accounts (secpipe.hub.partitions)."""

    # --- Security Hub API semantics -----------------------------------------------------
    def batch_import(self, findings: Sequence[Mapping[str, Any]]) -> ImportResult: ...

    def get_findings(self, filters: Mapping[str, Any] | None = None,
                     sort: Sequence[Mapping[str, str]] | None = None,
                     max_results: int = 100, next_token: str | None = None, *,
                     text: str | None = None
                     ) -> tuple[list[dict[str, Any]], str | None]: ...

    # secpipe extensions for the pipeline and the dashboard
    def bulk_import(self, findings: Iterable[Mapping[str, Any]],
                    batch_size: int = 5000) -> ImportResult: ...
    def count_findings(self, filters: Mapping[str, Any] | None = None, *,
                       text: str | None = None) -> int: ...
    def group_counts(self, group_by: str, filters: Mapping[str, Any] | None = None, *,
                     text: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...
    def get_finding(self, finding_id: str, product_arn: str | None = None) -> dict[str, Any]: ...

    def batch_update(self, identifiers: Sequence[Mapping[str, str]],
                     changes: Mapping[str, Any], *, updated_by: str = "secpipe") -> UpdateResult: ...

    def create_insight(self, name: str, filters: Mapping[str, Any], group_by: str) -> str: ...
    def get_insights(self, arns: Sequence[str] | None = None, max_results: int = 100,
                     next_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]: ...
    def get_insight_results(self, arn: str) -> dict[str, Any]: ...
    def update_insight(self, arn: str, *, name: str | None = None,
                       filters: Mapping[str, Any] | None = None,
                       group_by: str | None = None) -> None: ...
    def delete_insight(self, arn: str) -> str: ...

    def enable_hub(self, tags: Mapping[str, str] | None = None) -> None: ...
    def disable_hub(self) -> None: ...
    def describe_hub(self) -> dict[str, Any]: ...
    def is_subscribed(self, partition: Partition | None = None) -> bool: ...

    # --- secpipe's own: runs, history, keys -----------------------------------------------
    def record_run(self, run: RunRecord, findings: Iterable[Mapping[str, Any]], *,
                   base_branch: str | None = None) -> RunDiff: ...
    def list_runs(self, repo: str | None = None, branch: str | None = None,
                  limit: int = 50) -> list[RunRecord]: ...
    def get_run(self, run_id: str) -> RunRecord: ...
    def run_diff(self, run_id: str) -> RunDiff: ...
    def finding_history(self, finding_id: str) -> list[dict[str, Any]]: ...
    def baseline_ids(self, repo: str, branch: str) -> set[str]: ...
    def close(self) -> None: ...

    def create_access_key(self, label: str = "") -> tuple[str, str]: ...
    def secret_for(self, access_key_id: str) -> str | None: ...
    def list_access_keys(self) -> list[dict[str, Any]]: ...
    def revoke_access_key(self, access_key_id: str) -> None: ...
    def set_user_password(self, user: str, password: str) -> None: ...
    def check_user_password(self, user: str, password: str) -> bool: ...
