"""S3 archive sink: a run's raw reports and outputs, kept where the seed kept its envelopes.

Key layout (under an optional `prefix`), the seed's `reports/<type>/<build>-<timestamp>.json`
with the type made `<stage>/<tool>` so every tool's history lists under one prefix:

    reports/<stage>/<tool>/<run-id>-<timestamp>.<ext>   raw report of one tool (scrubbed)
    runs/<run-id>/summary.json                          the run's summary
    runs/<run-id>/findings.asff.json, findings.ocsf.json, results.sarif, junit.xml, report.html

The Lambda stores seed envelopes as `reports/<reportType>/<build_id>-<createdAt>.json`, the
seed's exact keys. `<timestamp>` is the run's start, `YYYYmmddTHHMMSSZ`.

Objects are written with SSE-KMS when a key is given (`ServerSideEncryption=aws:kms`,
`SSEKMSKeyId`), else with the bucket's default encryption. The local file archive (the run
directory) is always written first; this is a copy.
"""

from __future__ import annotations

import mimetypes
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secpipe.sinks._aws import make_client, resolve_region
from secpipe.sinks._retry import Backoff, error_code, is_retryable
from secpipe.sinks.interface import SinkError, SinkOutcome

RUN_FILES = ("summary.json", "findings.asff.json", "findings.ocsf.json", "results.sarif",
             "junit.xml", "report.html")
_UNSAFE = re.compile(r"[^A-Za-z0-9._:+=@-]+")


def safe_part(text: str) -> str:
    """One key segment: no slashes, no spaces or control characters."""
    return _UNSAFE.sub("-", text).strip("-.") or "unknown"


def compact_stamp(iso: str) -> str:
    """2026-11-27T16:52:33.159Z -> 20261127T165233Z (sortable, no colons)."""
    digits = re.sub(r"[^0-9T]", "", iso.split(".")[0])
    return f"{digits}Z" if digits else "unknown"


def report_key(stage: str, tool: str, run_id: str, stamp: str, ext: str,
               prefix: str = "", variant: str = "") -> str:
    """`variant` tells apart a tool's second and later reports (their file stem)."""
    ext = ext if ext.startswith(".") or not ext else f".{ext}"
    tail = f"-{safe_part(variant)}" if variant else ""
    return (f"{_prefix(prefix)}reports/{safe_part(stage)}/{safe_part(tool)}/"
            f"{safe_part(run_id)}-{stamp}{tail}{ext}")


def run_key(run_id: str, name: str, prefix: str = "") -> str:
    return f"{_prefix(prefix)}runs/{safe_part(run_id)}/{name}"


def envelope_key(report_type: str, build_id: str, created_at: str, prefix: str = "") -> str:
    """The seed Lambda's key for an envelope."""
    return (f"{_prefix(prefix)}reports/{safe_part(report_type)}/"
            f"{safe_part(build_id)}-{safe_part(created_at)}.json")


def _prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


@dataclass
class PutReport:
    keys: list[str] = field(default_factory=list)
    calls: int = 0
    retried_calls: int = 0
    bytes: int = 0


class S3ArchiveSink:
    name = "s3"

    def __init__(self, bucket: str | None = None, *, prefix: str = "",
                 kms_key_id: str | None = None, region: str | None = None,
                 endpoint_url: str | None = None, client: Any = None, session: Any = None,
                 backoff: Backoff | None = None) -> None:
        bucket = bucket or os.environ.get("SECPIPE_S3_BUCKET")
        if not bucket:
            raise SinkError("the s3 sink needs a bucket: set `bucket` on the sink in "
                            "secpipe.yml, or SECPIPE_S3_BUCKET")
        self.bucket = bucket
        self.prefix = prefix
        self.kms_key_id = kms_key_id or os.environ.get("SECPIPE_KMS_KEY_ID") or None
        self._region = region
        self.endpoint_url = endpoint_url
        self._client = client
        self._session = session
        self.backoff = backoff or Backoff(max_attempts=5)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client("s3", region=resolve_region(self._region, self._session),
                                       endpoint_url=self.endpoint_url, session=self._session)
        return self._client

    def put(self, key: str, body: bytes, *, content_type: str | None = None,
            metadata: dict[str, str] | None = None, report: PutReport | None = None) -> None:
        """One PutObject, SSE-KMS when a key is configured, retried when transient."""
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body,
                                  "ContentType": content_type or _content_type(key)}
        if self.kms_key_id:
            kwargs["ServerSideEncryption"] = "aws:kms"
            kwargs["SSEKMSKeyId"] = self.kms_key_id
        if metadata:
            kwargs["Metadata"] = {safe_part(k)[:128]: _ascii(v)[:1024] for k, v in metadata.items()}
        attempt = 0
        while True:
            if report is not None:
                report.calls += 1
            try:
                self.client.put_object(**kwargs)
                break
            except (ClientError, BotoCoreError) as exc:
                if is_retryable(exc) and attempt + 1 < self.backoff.max_attempts:
                    self.backoff.wait(attempt)
                    attempt += 1
                    if report is not None:
                        report.retried_calls += 1
                    continue
                code, _ = error_code(exc)
                raise SinkError(f"s3://{self.bucket}/{key}: PutObject failed: "
                                f"{code or type(exc).__name__}: {exc}") from None
        if report is not None:
            report.keys.append(key)
            report.bytes += len(body)

    def deliver(self, run: Any, run_dir: Path) -> SinkOutcome:
        run_dir = Path(run_dir)
        stamp = compact_stamp(run.started_at)
        meta = {"run-id": run.run_id, "repo": run.context.repo, "branch": run.context.branch,
                "commit": run.context.commit}
        report = PutReport()
        try:
            for stage in run.stages:
                for tool in stage.tools:
                    for n, path in enumerate(_tool_reports(run_dir, stage.name, tool)):
                        ext = "".join(path.suffixes) or ".txt"
                        key = report_key(stage.name, tool.tool, run.run_id, stamp, ext,
                                         self.prefix, path.name[:-len(ext)] if n else "")
                        self.put(key, path.read_bytes(), report=report,
                                 metadata={**meta, "stage": stage.name, "tool": tool.tool})
            for name in RUN_FILES:
                path = run_dir / name
                if path.is_file():
                    self.put(run_key(run.run_id, name, self.prefix), path.read_bytes(),
                             report=report, metadata=meta)
        except SinkError as exc:
            return SinkOutcome(self.name, False, str(exc),
                               {"bucket": self.bucket, "keys": report.keys})
        except OSError as exc:
            return SinkOutcome(self.name, False, f"cannot read the run's files: {exc}",
                               {"bucket": self.bucket, "keys": report.keys})
        sse = f"SSE-KMS ({self.kms_key_id})" if self.kms_key_id else "bucket default encryption"
        return SinkOutcome(self.name, True, f"archived {len(report.keys)} objects to "
                           f"s3://{self.bucket}/{_prefix(self.prefix)} with {sse}",
                           {"bucket": self.bucket, "keys": report.keys, "calls": report.calls,
                            "retried_calls": report.retried_calls, "bytes": report.bytes,
                            "kms_key_id": self.kms_key_id})


def _tool_reports(run_dir: Path, stage: str, tool: Any) -> list[Path]:
    """The tool's raw reports: its report file, plus any sibling named after the tool."""
    found: list[Path] = []
    if tool.report_file:
        path = run_dir / tool.report_file
        if path.is_file():
            found.append(path)
    folder = run_dir / "raw" / stage
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            named = path.name == tool.tool or path.name.startswith((f"{tool.tool}.",
                                                                    f"{tool.tool}-"))
            if named and path.is_file() and path not in found:
                found.append(path)
    return found


def _content_type(key: str) -> str:
    if key.endswith((".json", ".sarif")):
        return "application/json"
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def _ascii(value: Any) -> str:
    return str(value or "").encode("ascii", "replace").decode("ascii")
