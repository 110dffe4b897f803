"""The Lambda that normalises seed-style report envelopes: archive to S3, import to Security Hub.

Handler: `secpipe.aws.lambda_handler.lambda_handler` (the package re-exports the function, so
`from secpipe.aws import lambda_handler` is the same callable).

The event is the seed's envelope:
    {"messageType": "CodeScanReport", "reportType": "ANCHORE"|"ECR"|"OWASP-Zap"|"SNYK",
     "createdAt", "source_repository", "source_branch", "source_commitid", "build_id",
     "report": {...raw tool JSON...}}
or the same envelope with any `secpipe formats` name as reportType (case-insensitive), or
"auto". `report` may also be a string (XML reports, JSON text), base64 when the envelope says
`"reportEncoding": "base64"`. A function URL / API Gateway event carrying the envelope as its
`body` is accepted too.

Unlike the seed's Lambda (parsing, storage and one API call per finding in one function, with a
counter in every Id), this one only wires three parts that exist on their own: the parser
`secpipe convert` uses (same findings, same stable Ids), the S3 archive sink (the envelope under
the seed's key plus a digest of the envelope, `reports/<reportType>/<build_id>-<createdAt>-<sha256
prefix>.json`, so distinct envelopes never share a key; SSE-KMS; control characters in the
metadata become '?'), and the Security Hub sink (batches, backoff, limits). A createdAt the hub
cannot hold (outside 1970-9999 in UTC) is replaced by the invocation's time. The envelope is
archived before it is parsed, so a report that fails to parse is still kept as evidence; the
invocation then fails with the reason. Called through a function URL or API Gateway (an event
with a `body`), the answer is an HTTP response instead: 200 with the summary, or 400 with the
reason for an unusable envelope (a body flagged base64 that is not base64, say).

Environment: SECPIPE_S3_BUCKET (required), SECPIPE_KMS_KEY_ID, SECPIPE_S3_PREFIX,
SECPIPE_ACCOUNT_ID (default: the function's own account), AWS_REGION (set by Lambda).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from secpipe.model import Severity, SourceContext
from secpipe.model.asff import now_iso

MESSAGE_TYPE = "CodeScanReport"
# The seed's report types and the formats that read them (first whose sniffer accepts wins).
SEED_TYPES: dict[str, tuple[str, ...]] = {
    "anchore": ("anchore-engine", "anchorectl", "grype"),
    "ecr": ("ecr",),
    "owasp-zap": ("zap",),
    "zap": ("zap",),
    "snyk": ("snyk",),
}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


class EnvelopeError(ValueError):
    """The event is not a usable envelope, or its report cannot be read; says which and why."""


@dataclass(frozen=True)
class Envelope:
    report_type: str
    created_at: str
    repo: str
    branch: str
    commit: str
    build_id: str
    report: bytes
    raw: Mapping[str, Any]


def read_envelope(event: Any) -> Envelope:
    if is_http_event(event):
        body = event.get("body") or ""
        if not isinstance(body, str):
            raise EnvelopeError(f"the request body must be a string, not {type(body).__name__}")
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(body, validate=True).decode("utf-8")
            except (binascii.Error, ValueError) as exc:
                raise EnvelopeError(f"the request body is not valid base64 of UTF-8 text "
                                    f"(isBase64Encoded is true): {exc}") from None
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise EnvelopeError(f"the request body is not JSON: {exc}") from None
    if not isinstance(event, Mapping):
        raise EnvelopeError(f"the event must be a JSON object, got {type(event).__name__}")
    if event.get("messageType") != MESSAGE_TYPE:
        raise EnvelopeError(f"messageType must be {MESSAGE_TYPE!r}, got "
                            f"{event.get('messageType')!r}")
    report_type = str(event.get("reportType") or "").strip()
    if not report_type:
        raise EnvelopeError("the envelope has no reportType")
    if "report" not in event or event["report"] in (None, ""):
        raise EnvelopeError("the envelope has no report")
    return Envelope(
        report_type=report_type,
        created_at=_created_at(event.get("createdAt")),
        repo=str(event.get("source_repository") or ""),
        branch=str(event.get("source_branch") or ""),
        commit=str(event.get("source_commitid") or ""),
        build_id=str(event.get("build_id") or ""),
        report=_report_bytes(event),
        raw=event,
    )


def _created_at(value: Any) -> str:
    """createdAt as an ASFF timestamp in UTC, or '' (then the time of the invocation is used):
    a stamp the hub cannot hold (year 0001, 9999-12-31T23:59-05:00 is year 10000 in UTC) would
    otherwise become every finding's UpdatedAt and fail them all."""
    text = str(value or "").strip()
    if not _ISO.match(text):
        return ""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return ""
    if not 1970 <= when.year <= 9999:
        return ""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _meta(value: str, limit: int = 512) -> str:
    """An S3 metadata value (an HTTP header on the wire): control and bidi characters from the
    envelope become '?', so a newline in a repo name cannot break or forge the header."""
    return _CONTROL.sub("?", value)[:limit]


def envelope_digest(raw: Mapping[str, Any]) -> str:
    """A short digest of the whole envelope: the S3 key's suffix, so two builds that share a
    build_id and createdAt (or none at all) never overwrite each other's evidence."""
    text = json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _report_bytes(event: Mapping[str, Any]) -> bytes:
    report = event["report"]
    if isinstance(report, (dict, list)):
        return json.dumps(report, ensure_ascii=False).encode("utf-8")
    if not isinstance(report, str):
        raise EnvelopeError(f"report must be an object, an array or a string, "
                            f"not {type(report).__name__}")
    if str(event.get("reportEncoding") or "").lower() == "base64":
        try:
            return base64.b64decode(report, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise EnvelopeError(f"report is not valid base64: {exc}") from None
    return report.encode("utf-8")


def resolve_format(report_type: str, data: bytes) -> Any:
    """The format for a reportType: the seed's four names, any format name, or `auto`."""
    from secpipe.formats import ReportFormatError, all_formats, get_format, sniff
    from secpipe.formats.interface import Document

    key = report_type.strip().lower()
    formats = {name.lower(): fmt for name, fmt in all_formats().items()}
    if key == "auto":
        try:
            return sniff(data, f"<{report_type} report>")
        except ReportFormatError as exc:
            raise EnvelopeError(str(exc)) from None
    candidates = SEED_TYPES.get(key, (key,) if key in formats else ())
    if not candidates:
        raise EnvelopeError(f"unknown reportType {report_type!r}; use ANCHORE, ECR, OWASP-Zap, "
                            f"SNYK, auto, or a format of `secpipe formats`: "
                            f"{', '.join(sorted(formats))}")
    if len(candidates) > 1:
        doc = Document(data, report_type)
        for name in candidates:
            fmt = get_format(name)
            try:
                if fmt.sniff is not None and fmt.sniff(doc):
                    return fmt
            except Exception:  # a sniffer that breaks must not pick a format
                continue
    return formats[candidates[0]] if candidates[0] in formats else get_format(candidates[0])


def context_for(env: Envelope, *, account_id: str, region: str) -> SourceContext:
    from secpipe.sinks._aws import partition_for_region

    return SourceContext(repo=env.repo, branch=env.branch, commit=env.commit,
                         run_id=env.build_id, stage=env.report_type.lower(),
                         account_id=account_id, region=region,
                         partition=partition_for_region(region),
                         observed_at=env.created_at if _ISO.match(env.created_at) else now_iso())


def envelope_findings(env: Envelope, *, account_id: str = "000000000000",
                      region: str = "us-east-1") -> tuple[str, list[dict[str, Any]]]:
    """(format name, ASFF findings): exactly what `secpipe convert --from FORMAT` gives."""
    from secpipe.convert import ConvertError, convert_report
    from secpipe.formats import ReportFormatError

    fmt = resolve_format(env.report_type, env.report)
    source = f"{env.report_type} report of build {env.build_id or '?'}"
    ctx = context_for(env, account_id=account_id, region=region)
    from secpipe.secretkey import key_from_env

    try:
        out = convert_report(env.report, source=source, from_=fmt.name, to="asff", ctx=ctx,
                             key=key_from_env())
    except (ReportFormatError, ConvertError) as exc:
        raise EnvelopeError(str(exc)) from None
    return fmt.name, json.loads(out)


def handle(event: Any, *, archive: Any, hub: Any) -> dict[str, Any]:
    """Archive, parse, import; `archive` is an S3ArchiveSink, `hub` a SecurityHubSink."""
    from secpipe.sinks.s3 import envelope_key

    env = read_envelope(event)
    # the digest makes the key unique; no clock in it, so a retried invocation rewrites the
    # same object instead of adding a copy
    stamp = str(env.raw.get("createdAt") or "") or "undated"
    key = envelope_key(env.report_type[:64], (env.build_id or "unknown")[:200], stamp[:40],
                       os.environ.get("SECPIPE_S3_PREFIX", ""))
    key = f"{key[:-len('.json')]}-{envelope_digest(env.raw)}.json"
    archive.put(key, json.dumps(env.raw, ensure_ascii=False).encode("utf-8", "surrogatepass"),
                content_type="application/json",
                metadata={"report-type": _meta(env.report_type), "build-id": _meta(env.build_id),
                          "repo": _meta(env.repo), "commit": _meta(env.commit)})
    fmt_name, findings = envelope_findings(env, account_id=hub.account_id, region=hub.region)
    counts = {s.name: 0 for s in sorted(Severity, reverse=True)}
    for f in findings:
        label = (f.get("Severity") or {}).get("Label")
        if label in counts:
            counts[label] += 1
    result = hub.send(findings)
    return {
        "status": "ok" if result.ok else "partial",
        "reportType": env.report_type,
        "format": fmt_name,
        "findings": len(findings),
        "counts": counts,
        "imported": result.imported,
        "failed": len(result.failed),
        "failedFindings": result.failed[:20],
        "calls": result.calls,
        "truncated": result.truncated,
        "archive": f"s3://{archive.bucket}/{key}",
    }


def _account_from_context(context: Any) -> str | None:
    arn = str(getattr(context, "invoked_function_arn", "") or "")
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 and parts[4].isdigit() else None


def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
    from secpipe.sinks.s3 import S3ArchiveSink
    from secpipe.sinks.securityhub import SecurityHubSink

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    account = os.environ.get("SECPIPE_ACCOUNT_ID") or _account_from_context(context)
    archive = S3ArchiveSink(region=region)
    hub = SecurityHubSink(region=region, account_id=account)
    if not is_http_event(event):
        return handle(event, archive=archive, hub=hub)
    try:
        summary = handle(event, archive=archive, hub=hub)
    except EnvelopeError as exc:   # the caller's mistake: 400 with the reason, not a 502
        return _http(400, {"message": str(exc)})
    return _http(200, summary)


def is_http_event(event: Any) -> bool:
    """A function URL or API Gateway proxy event: the envelope travels in `body`."""
    return isinstance(event, Mapping) and "body" in event and "messageType" not in event


def _http(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body, ensure_ascii=False)}


def make_envelope(report_type: str, report: bytes, *, root: Any = None) -> dict[str, Any]:
    """A seed-shaped envelope for a report file, with the build's context (CodeBuild, GitHub,
    GitLab variables, else git): what `secpipe aws envelope` prints for `aws lambda invoke`."""
    from pathlib import Path

    from secpipe.pipeline.context import detect_context

    ctx = detect_context(Path(root or "."), run_id="")
    try:
        body: Any = json.loads(report)
        encoding = None
    except ValueError:
        try:
            body, encoding = report.decode("utf-8"), None
        except UnicodeDecodeError:
            body, encoding = base64.b64encode(report).decode("ascii"), "base64"
    envelope: dict[str, Any] = {
        "messageType": MESSAGE_TYPE, "reportType": report_type, "createdAt": now_iso(),
        "source_repository": ctx.repo, "source_branch": ctx.branch,
        "source_commitid": ctx.commit,
        "build_id": os.environ.get("CODEBUILD_BUILD_ID") or os.environ.get("GITHUB_RUN_ID")
        or os.environ.get("CI_JOB_ID") or "local",
        "report": body,
    }
    if encoding:
        envelope["reportEncoding"] = encoding
    return envelope
