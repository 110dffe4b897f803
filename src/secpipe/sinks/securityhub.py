"""AWS Security Hub sink: BatchImportFindings done the way the seed's Lambda did not.

The seed sent one finding per call with a new Id per build, no retry and `arn:aws:` hard-coded.
Here: batches of at most 100 findings and 6 MB; each finding made to fit ASFF's limits first
(cut with a visible marker, never refused by AWS); full-jitter exponential backoff on
throttling and 5xx; FailedFindings retried when their error is transient and reported
otherwise; ProductArn, AwsAccountId and resource partitions rewritten for the account and
region the findings are sent to; Ids untouched (secpipe's are stable, so a re-run updates).

The same code talks to secpipe's own hub API (`endpoint_url`), which speaks Security Hub.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from secpipe.model.asff import validate_asff
from secpipe.sinks._aws import (caller_account, make_client, partition_for_region, product_arn,
                                resolve_region)
from secpipe.sinks._fit import fit_finding, size_of
from secpipe.sinks._retry import Backoff, error_code, is_retryable, is_retryable_code
from secpipe.sinks.interface import SinkOutcome

MAX_BATCH = 100
# Security Hub's limit is 6 MB per request; keep room for the request's own JSON.
MAX_BATCH_BYTES = 6 * 1000 * 1000 - 16 * 1024


@dataclass
class ImportReport:
    """What happened to every finding handed to `send`."""

    submitted: int = 0
    imported: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    calls: int = 0            # BatchImportFindings requests made, retries included
    retried_calls: int = 0
    retried_findings: int = 0
    truncated: int = 0        # findings with a field cut to fit
    duplicates: int = 0       # same Id twice in the input: the newest UpdatedAt was sent
    batches: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {"submitted": self.submitted, "imported": self.imported,
                "failed": len(self.failed), "failed_findings": self.failed[:50],
                "calls": self.calls, "retried_calls": self.retried_calls,
                "retried_findings": self.retried_findings, "truncated": self.truncated,
                "duplicates": self.duplicates, "batches": self.batches}


class SecurityHubSink:
    """Send ASFF findings to Security Hub (or anything speaking its API)."""

    name = "securityhub"

    def __init__(self, client: Any = None, *, region: str | None = None,
                 account_id: str | None = None, endpoint_url: str | None = None,
                 session: Any = None, backoff: Backoff | None = None,
                 max_batch: int = MAX_BATCH, max_batch_bytes: int = MAX_BATCH_BYTES,
                 rewrite_account: bool = True) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be 1-{MAX_BATCH}")
        self._client = client
        self._session = session
        self.endpoint_url = endpoint_url or os.environ.get("SECPIPE_SECURITYHUB_ENDPOINT")
        self._region = region
        self._account = account_id
        self.backoff = backoff or Backoff()
        self.max_batch = max_batch
        self.max_batch_bytes = max_batch_bytes
        self.rewrite_account = rewrite_account

    # -- where to ---------------------------------------------------------------------------
    @property
    def region(self) -> str:
        if self._region is None:
            client_region = getattr(getattr(self._client, "meta", None), "region_name", None)
            self._region = client_region or resolve_region(None, self._session)
        return self._region

    @property
    def partition(self) -> str:
        return partition_for_region(self.region)

    @property
    def account_id(self) -> str:
        if self._account is None:
            self._account = caller_account(region=self.region, session=self._session)
        return self._account

    @property
    def product_arn(self) -> str:
        return product_arn(self.region, self.account_id)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client("securityhub", region=self.region,
                                       endpoint_url=self.endpoint_url, session=self._session)
        return self._client

    # -- preparing ----------------------------------------------------------------------------
    def prepare(self, findings: Iterable[dict[str, Any]], report: ImportReport
                ) -> list[dict[str, Any]]:
        """Findings ready to send: for this account, within limits, one per Id, valid."""
        by_id: dict[str, dict[str, Any]] = {}
        for obj in findings:
            report.submitted += 1
            obj, cut = fit_finding(obj)
            report.truncated += cut
            if self.rewrite_account:
                self._retarget(obj)
            key = str(obj.get("Id", ""))
            previous = by_id.get(key)
            if previous is not None:
                report.duplicates += 1
                if str(previous.get("UpdatedAt", "")) > str(obj.get("UpdatedAt", "")):
                    continue
            by_id[key] = obj
        ready = []
        for obj in by_id.values():
            problems = validate_asff(obj)
            if problems:
                report.failed.append({"Id": str(obj.get("Id", "?")),
                                      "ErrorCode": "InvalidInput (not sent)",
                                      "ErrorMessage": "; ".join(problems)})
            else:
                ready.append(obj)
        return ready

    def _retarget(self, obj: dict[str, Any]) -> None:
        obj["AwsAccountId"] = self.account_id
        obj["ProductArn"] = self.product_arn
        for res in obj.get("Resources") or []:
            if isinstance(res, dict):
                res["Partition"] = self.partition
                res["Region"] = self.region

    def batches(self, findings: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """At most `max_batch` findings and `max_batch_bytes` of JSON per batch."""
        batch: list[dict[str, Any]] = []
        size = 2
        for obj in findings:
            n = size_of(obj) + 2
            if batch and (len(batch) >= self.max_batch or size + n > self.max_batch_bytes):
                yield batch
                batch, size = [], 2
            batch.append(obj)
            size += n
        if batch:
            yield batch

    # -- sending ------------------------------------------------------------------------------
    def send(self, findings: Iterable[dict[str, Any]]) -> ImportReport:
        report = ImportReport()
        ready = self.prepare(findings, report)
        for batch in self.batches(ready):
            report.batches += 1
            self._send_batch(batch, report)
        return report

    def _send_batch(self, batch: list[dict[str, Any]], report: ImportReport) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        pending = batch
        attempt = 0
        while pending:
            report.calls += 1
            try:
                answer = self.client.batch_import_findings(Findings=pending)
            except (ClientError, BotoCoreError) as exc:
                if is_retryable(exc) and attempt + 1 < self.backoff.max_attempts:
                    self.backoff.wait(attempt)
                    attempt += 1
                    report.retried_calls += 1
                    continue
                code, status = error_code(exc)
                code = code or type(exc).__name__
                if status:
                    code = f"{code} (HTTP {status})"
                report.failed.extend({"Id": str(f.get("Id")), "ErrorCode": code,
                                      "ErrorMessage": str(exc)} for f in pending)
                return
            report.imported += int(answer.get("SuccessCount") or 0)
            failed = answer.get("FailedFindings") or []
            by_id = {str(f.get("Id")): f for f in pending}
            retry: list[dict[str, Any]] = []
            final: list[dict[str, str]] = []
            for item in failed:
                entry = {"Id": str(item.get("Id", "?")),
                         "ErrorCode": str(item.get("ErrorCode") or "Unknown"),
                         "ErrorMessage": str(item.get("ErrorMessage") or "")}
                original = by_id.get(entry["Id"])
                if original is not None and is_retryable_code(entry["ErrorCode"]):
                    retry.append(original)
                final.append(entry)
            if retry and attempt + 1 < self.backoff.max_attempts:
                report.retried_findings += len(retry)
                retry_ids = {str(f.get("Id")) for f in retry}
                report.failed.extend(e for e in final if e["Id"] not in retry_ids)
                self.backoff.wait(attempt)
                attempt += 1
                pending = retry
                continue
            report.failed.extend(final)
            return

    # -- the pipeline's side ------------------------------------------------------------------
    def deliver(self, run: Any, run_dir: Path) -> SinkOutcome:
        from secpipe.outputs.asff import asff_findings

        findings = asff_findings(run)
        report = self.send(findings)
        target = self.endpoint_url or f"Security Hub {self.region}"
        details = {"target": target, "account_id": self._account, **report.as_dict()}
        if report.ok:
            return SinkOutcome(self.name, True, f"imported {report.imported} findings into "
                               f"{target} in {report.calls} calls", details)
        sample = ", ".join(f"{f['Id']}: {f['ErrorCode']} {f['ErrorMessage']}"[:200]
                           for f in report.failed[:3])
        return SinkOutcome(self.name, False, f"{len(report.failed)} of {report.submitted} "
                           f"findings were not imported into {target} ({sample})", details)

