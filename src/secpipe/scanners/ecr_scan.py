"""The registry scan stage (the seed's ECR stage): ask Amazon ECR to scan a pushed image, wait
for the scan, and hand on every page of findings as one `describe-image-scan-findings` report.

1. The image: `repository` + `tag` (or `digest`) from the options, else the build stage's
   `image` output (`secpipe/web:RUN` -> repository `secpipe/web`, tag `RUN`). It must already
   be in the registry (`describe_images`); pushing is the build pipeline's job, as in the seed.
2. `start_image_scan`. ECR allows one basic scan per image per day (LimitExceededException)
   and refuses on-demand scans where the registry uses enhanced scanning (ValidationException
   "This feature is disabled"); both mean a scan exists or will run on its own, so the stage
   goes on to read it, as AWS documents.
3. Wait: poll `describe_image_scan_findings` with exponential backoff (`poll_initial` 2 s,
   doubling up to `poll_max` 30 s) until COMPLETE (basic) or ACTIVE (enhanced, continuous),
   bounded by the stage timeout (ToolTimeout). FAILED, UNSUPPORTED_IMAGE,
   FINDINGS_UNAVAILABLE and the other end states fail the stage with ECR's description.
4. Page through `describe_image_scan_findings` (`nextToken`, `page_size` up to 1000) and merge
   the pages' `findings` and `enhancedFindings` into one response, the shape the AWS CLI prints.

Client settings come from the options, else the tools' environment: `region` (AWS_REGION,
AWS_DEFAULT_REGION), `endpoint_url` (AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL; moto's server in
tests), `profile` (AWS_PROFILE), `registry_id`; credentials from the environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or boto3's usual chain.

A second engine over the same image, locally: put `grype` or `trivy-vuln` beside `ecr-scan` in
the stage's tools; with the build stage in `needs` they scan its image archive.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from typing import Any, Callable, Mapping

from secpipe.scanners.interface import (
    RawReport, ReportMissing, ScanOutcome, ScannerError, ScanRequest, Scanner, ToolCrashed,
    ToolMissing, ToolTimeout,
)

DONE = frozenset({"COMPLETE", "ACTIVE"})
WAITING = frozenset({"IN_PROGRESS", "PENDING"})


def _start_tolerated(code: str, message: str) -> bool:
    """A scan that exists already (the daily quota) or runs by itself (enhanced scanning,
    where on-demand scans are "disabled"): go on and read it. Any other refusal fails."""
    return code == "LimitExceededException" or (
        code == "ValidationException" and "feature is disabled" in message.lower())


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """`repo:tag`, `repo@sha256:...` or `registry/repo:tag` -> (repository, tag, digest)."""
    ref = image
    if "/" in ref and ("." in ref.split("/", 1)[0] or ":" in ref.split("/", 1)[0]):
        ref = ref.split("/", 1)[1]  # drop the registry host (123.dkr.ecr....amazonaws.com)
    if "@" in ref:
        repo, digest = ref.split("@", 1)
        return repo, None, digest
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest", None
    return repo, tag, None


class EcrScan(Scanner):
    name = "ecr-scan"
    format = "ecr"
    executable = ""
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    _opts: Mapping[str, Any] = {}

    def scan(self, req: ScanRequest) -> ScanOutcome:
        opts = req.options
        self._opts = opts
        deadline = time.monotonic() + req.timeout
        repo, tag, digest = self._image(req)
        errors = _errors()
        try:
            client = self.client(req)
        except errors.BotoCoreError as exc:  # an unknown profile, a broken config file
            raise ToolCrashed(self.name, f"cannot set up the ECR client: {exc}") from None
        registry = {"registryId": str(opts["registry_id"])} if opts.get("registry_id") else {}
        image_id = {"imageDigest": digest} if digest else {"imageTag": tag}
        notes: list[str] = []
        try:
            found = client.describe_images(repositoryName=repo, imageIds=[image_id], **registry)
        except errors.ClientError as exc:
            raise _client_error(self.name, exc, f"looking up {repo} {image_id}") from None
        except errors.BotoCoreError as exc:
            raise ToolCrashed(self.name, f"ECR call failed: {exc}") from None
        details = found.get("imageDetails") or []
        if not details:
            raise ReportMissing(self.name, f"image {repo} {image_id} is not in the registry")
        digest = details[0].get("imageDigest") or digest
        scan_id = {"imageDigest": digest} if digest else image_id
        command = ["ecr", "start-image-scan", "--repository-name", repo,
                   "--image-id", ",".join(f"{k}={v}" for k, v in scan_id.items())]
        try:
            # the per-image scan quota is daily: retrying a LimitExceededException is pointless
            self.client(req, attempts=1).start_image_scan(repositoryName=repo, imageId=scan_id,
                                                          **registry)
            notes.append(f"scan started for {repo}@{digest}")
        except errors.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", "")
            if not _start_tolerated(code, message):
                raise _client_error(self.name, exc, "starting the scan", command) from None
            notes.append(f"no new scan ({code}: {message}); reading the image's current scan")
        except errors.BotoCoreError as exc:
            raise ToolCrashed(self.name, f"ECR call failed: {exc}", command=command) from None
        first, polls = self._wait(client, errors, repo, scan_id, registry, deadline, command)
        notes.append(f"scan {first.get('imageScanStatus', {}).get('status')} after {polls} "
                     f"poll(s)")
        merged, pages = self._pages(client, errors, repo, scan_id, registry, command, deadline)
        notes.append(f"{pages} page(s) of findings")
        data = json.dumps(merged, indent=1, default=_jsonable).encode("utf-8")
        return ScanOutcome(reports=[RawReport("ecr-scan.json", data)], exit_code=0,
                           command=command, notes=notes)

    def client(self, req: ScanRequest, attempts: int = 3) -> Any:
        """A boto3 ECR client from the options and the tools' environment (tests swap it)."""
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ToolMissing(self.name, "boto3 is not installed: pip install 'secpipe[aws]'"
                              ) from None
        opts, env = req.options, req.env
        region = (opts.get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
                  or "us-east-1")
        endpoint = (opts.get("endpoint_url") or env.get("AWS_ENDPOINT_URL_ECR")
                    or env.get("AWS_ENDPOINT_URL"))
        keys = {k: env[e] for k, e in (("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
                                       ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
                                       ("aws_session_token", "AWS_SESSION_TOKEN")) if env.get(e)}
        profile = opts.get("profile") or (env.get("AWS_PROFILE") if not keys else None)
        session = boto3.session.Session(region_name=str(region), profile_name=profile, **keys)
        config = Config(retries={"mode": "standard", "max_attempts": attempts},
                        connect_timeout=10, read_timeout=60)
        return session.client("ecr", endpoint_url=endpoint or None, config=config)

    def _image(self, req: ScanRequest) -> tuple[str, str | None, str | None]:
        opts = req.options
        if opts.get("repository"):
            return (str(opts["repository"]), str(opts["tag"]) if opts.get("tag") else
                    (None if opts.get("digest") else "latest"),
                    str(opts["digest"]) if opts.get("digest") else None)
        image = opts.get("image") or req.inputs.get("image")
        if not image:
            raise ReportMissing(self.name, "no image to scan: set tools.ecr-scan.repository "
                                "(and tag) or put the build stage in `needs`")
        return split_image(str(image))

    def _wait(self, client: Any, errors: Any, repo: str, image_id: Mapping[str, str],
              registry: Mapping[str, str], deadline: float, command: list[str]
              ) -> tuple[dict, int]:
        delay = float(self._opts.get("poll_initial", 2.0))
        ceiling = float(self._opts.get("poll_max", 30.0))
        polls = 0
        while True:
            polls += 1
            try:
                page = client.describe_image_scan_findings(
                    repositoryName=repo, imageId=dict(image_id), maxResults=1, **registry)
                status = str((page.get("imageScanStatus") or {}).get("status", ""))
                reason = str((page.get("imageScanStatus") or {}).get("description", ""))
            except errors.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ScanNotFoundException":
                    raise _client_error(self.name, exc, "reading the scan", command) from None
                page, status, reason = {}, "PENDING", "the scan is not visible yet"
            except errors.BotoCoreError as exc:
                raise ToolCrashed(self.name, f"ECR call failed: {exc}", command=command) from None
            if status in DONE:
                return page, polls
            if status not in WAITING:
                raise ToolCrashed(self.name, f"the image scan ended {status or 'without a status'}"
                                  + (f": {reason}" if reason else ""), command=command)
            left = deadline - time.monotonic()
            if left <= 0:
                raise ToolTimeout(self.name, f"the image scan was still {status} when the stage "
                                  f"timeout ran out ({polls} polls)", command=command)
            self.sleep(min(delay, left))
            delay = min(delay * 2, ceiling)

    def _pages(self, client: Any, errors: Any, repo: str, image_id: Mapping[str, str],
               registry: Mapping[str, str], command: list[str], deadline: float
               ) -> tuple[dict, int]:
        size = max(1, min(1000, int(self._opts.get("page_size", 1000))))
        merged: dict[str, Any] = {}
        token: str | None = None
        seen: set[str] = set()
        pages = 0
        while True:
            kwargs: dict[str, Any] = {"repositoryName": repo, "imageId": dict(image_id),
                                      "maxResults": size, **registry}
            if token:
                kwargs["nextToken"] = token
            try:
                page = client.describe_image_scan_findings(**kwargs)
            except errors.ClientError as exc:
                raise _client_error(self.name, exc, f"reading findings page {pages + 1}",
                                    command) from None
            except errors.BotoCoreError as exc:
                raise ToolCrashed(self.name, f"ECR call failed: {exc}", command=command) from None
            pages += 1
            token = page.get("nextToken") or None
            _merge(merged, {k: v for k, v in page.items()
                            if k not in ("ResponseMetadata", "nextToken")})
            if not token:
                return merged, pages
            if token in seen:
                raise ToolCrashed(self.name, f"ECR returned the page token of page {pages - 1} "
                                  "again: refusing to loop", command=command)
            seen.add(token)
            if time.monotonic() > deadline:
                raise ToolTimeout(self.name, f"still paging findings ({pages} pages) when the "
                                  "stage timeout ran out", command=command)


def _merge(merged: dict[str, Any], page: dict[str, Any]) -> None:
    if not merged:
        merged.update(page)
        scan = merged.get("imageScanFindings")
        if isinstance(scan, dict):
            merged["imageScanFindings"] = {**scan, **{k: list(scan.get(k) or [])
                                                       for k in ("findings", "enhancedFindings")
                                                       if k in scan}}
        return
    scan = page.get("imageScanFindings") or {}
    into = merged.setdefault("imageScanFindings", {})
    for key in ("findings", "enhancedFindings"):
        if scan.get(key):
            into.setdefault(key, []).extend(scan[key])


def _errors() -> Any:
    try:
        import botocore.exceptions as errors
    except ImportError:
        raise ToolMissing("ecr-scan", "boto3 is not installed: pip install 'secpipe[aws]'"
                          ) from None
    return errors


def _client_error(tool: str, exc: Any, doing: str, command: list[str] | None = None
                  ) -> ScannerError:
    err = exc.response.get("Error", {})
    code, message = err.get("Code", "?"), err.get("Message", "")
    cls = ReportMissing if code in ("RepositoryNotFoundException", "ImageNotFoundException") \
        else ToolCrashed
    return cls(tool, f"{doing}: {code}: {message}", command=command or [])


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
