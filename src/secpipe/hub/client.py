"""A remote hub (`--hub http(s)://...`): the same HubStore seam, spoken over HTTP.

Security Hub operations go through boto3's unmodified `securityhub` client (so the server is
exercised exactly as AWS tooling would); secpipe's own run routes are signed with the same SigV4
credentials, or carry the hub's bearer token. Credentials come from SECPIPE_HUB_ACCESS_KEY_ID /
SECPIPE_HUB_SECRET_ACCESS_KEY or an explicit profile (`--hub-profile`, SECPIPE_HUB_PROFILE) -
never from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY - the token from SECPIPE_HUB_TOKEN.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlencode

from secpipe.hub.interface import (
    AccessDenied, HubError, ImportResult, InvalidInput, ResourceNotFound, RunDiff, RunRecord,
    UpdateResult,
)

_ERRORS = {400: InvalidInput, 403: AccessDenied, 404: ResourceNotFound}
ENV_PROFILE = "SECPIPE_HUB_PROFILE"


def credentials(profile: str | None = None) -> tuple[str | None, str | None]:
    """The hub key pair: an explicit profile (`--hub-profile`, or SECPIPE_HUB_PROFILE) from the
    AWS shared credentials/config files, else SECPIPE_HUB_ACCESS_KEY_ID /
    SECPIPE_HUB_SECRET_ACCESS_KEY. Never AWS_ACCESS_KEY_ID/SECRET: those are a CI job's real
    AWS keys, and a request signed with them would hand the hub (or whoever runs something on
    its URL) a valid signature of AWS's own credentials."""
    profile = profile or os.environ.get(ENV_PROFILE) or None
    if profile:
        import botocore.session
        from botocore.exceptions import ProfileNotFound

        try:
            creds = botocore.session.Session(profile=profile).get_credentials()
        except ProfileNotFound:
            raise AccessDenied(f"hub profile {profile!r} is not in the AWS config files") from None
        if creds is None or not creds.access_key or not creds.secret_key:
            raise AccessDenied(f"hub profile {profile!r} holds no access key")
        return creds.access_key, creds.secret_key
    return (os.environ.get("SECPIPE_HUB_ACCESS_KEY_ID") or None,
            os.environ.get("SECPIPE_HUB_SECRET_ACCESS_KEY") or None)


class RemoteHub:
    """The parts of HubStore a pipeline run and the CLI need, against `secpipe hub serve`."""

    def __init__(self, url: str, *, region: str = "us-east-1",
                 profile: str | None = None) -> None:
        import boto3

        self.url = url.rstrip("/")
        self.region = region
        self.access_key, self.secret_key = credentials(profile)
        self.token = os.environ.get("SECPIPE_HUB_TOKEN")
        if not (self.access_key and self.secret_key) and not self.token:
            raise AccessDenied(
                f"no credentials for {self.url}: set SECPIPE_HUB_ACCESS_KEY_ID and "
                "SECPIPE_HUB_SECRET_ACCESS_KEY (`secpipe hub keys create`) or SECPIPE_HUB_TOKEN")
        self._sh = None
        if self.access_key and self.secret_key:
            self._sh = boto3.client("securityhub", endpoint_url=self.url, region_name=region,
                                    aws_access_key_id=self.access_key,
                                    aws_secret_access_key=self.secret_key)

    # --- Security Hub operations, through boto3 ----------------------------------------------
    def _client(self):
        if self._sh is None:
            raise AccessDenied("Security Hub operations need SigV4 keys, not only a token")
        return self._sh

    def batch_import(self, findings: Sequence[Mapping[str, Any]]) -> ImportResult:
        out = self._call(self._client().batch_import_findings, Findings=list(findings))
        return ImportResult(success_count=out["SuccessCount"], failed=out.get("FailedFindings", []))

    def get_findings(self, filters=None, sort=None, max_results: int = 100, next_token=None):
        kwargs: dict[str, Any] = {"Filters": dict(filters or {}), "MaxResults": max_results}
        if sort:
            kwargs["SortCriteria"] = list(sort)
        if next_token:
            kwargs["NextToken"] = next_token
        out = self._call(self._client().get_findings, **kwargs)
        return out["Findings"], out.get("NextToken")

    def batch_update(self, identifiers, changes, *, updated_by: str = "secpipe") -> UpdateResult:
        changes = dict(changes)
        if "Note" in changes:
            changes["Note"] = {"UpdatedBy": updated_by, **changes["Note"]}
        out = self._call(self._client().batch_update_findings,
                         FindingIdentifiers=list(identifiers), **changes)
        return UpdateResult(processed=out.get("ProcessedFindings", []),
                            unprocessed=out.get("UnprocessedFindings", []))

    def _call(self, fn, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            raise _ERRORS.get(status, HubError)(f"{err.get('Code')}: {err.get('Message')}") from None
        except BotoCoreError as exc:
            raise HubError(f"{self.url}: {exc}") from None

    def close(self) -> None:
        """Nothing to fold in or release: every call is a request of its own."""

    # --- secpipe's own routes -----------------------------------------------------------------
    def record_run(self, run: RunRecord, findings: Iterable[Mapping[str, Any]], *,
                   base_branch: str | None = None) -> RunDiff:
        body = {"run": asdict(run), "findings": list(findings), "base_branch": base_branch}
        out = self._native("POST", "/v1/runs", body)
        return RunDiff(**{k: out.get(k) for k in ("run_id", "baseline_run_id", "new", "recurring",
                                                    "fixed", "by_stage")})

    def baseline_ids(self, repo: str, branch: str) -> set[str]:
        out = self._native("GET", "/v1/baseline?" + urlencode({"repo": repo, "branch": branch}))
        return set(out["ids"])

    def hub_suppressions(self, repo: str) -> tuple[list, list]:
        """(honoured, expired) suppressions of `repo` (secpipe.hub.api.suppressions)."""
        from secpipe.hub.suppressed import HubSuppression

        out = self._native("POST", "/v1/suppressions", {"repo": repo})
        return ([HubSuppression(**s) for s in out["honoured"]],
                [HubSuppression(**s) for s in out["expired"]])

    def rule_suppressions(self, docs: Sequence[Mapping[str, Any]]) -> list:
        from secpipe.hub.suppressed import HubSuppression

        out = self._native("POST", "/v1/suppressions/rules", {"findings": list(docs)})
        return [HubSuppression(**s) for s in out["suppressions"]]

    def _native(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        import httpx
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        data = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"}
        url = self.url + path
        if self.access_key and self.secret_key:
            req = AWSRequest(method=method, url=url, data=data, headers=headers)
            SigV4Auth(Credentials(self.access_key, self.secret_key), "securityhub",
                      self.region).add_auth(req)
            headers = dict(req.headers.items())
        else:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            resp = httpx.request(method, url, content=data, headers=headers, timeout=120)
        except httpx.HTTPError as exc:
            raise HubError(f"{self.url}: {exc}") from None
        if resp.status_code >= 400:
            try:
                msg = resp.json().get("Message", resp.text)
            except ValueError:
                msg = resp.text
            raise _ERRORS.get(resp.status_code, HubError)(f"{resp.status_code}: {msg}")
        return resp.json()
