"""The `notifications:` section of secpipe.yml: rules, and the channels each rule sends to.

Kept apart from `secpipe.config` so that module only gains one field; the error messages still
name key and line because `parse_config` turns every pydantic error into `file:line: key: msg`.

Secrets (SMTP passwords, HMAC keys, and optionally webhook URLs, which carry a token for Slack)
are named by environment variable and read when a message is sent, never written in the file:
a secpipe.yml is committed, and a committed password is a leaked one.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)
from pydantic_core import InitErrorDetails, PydanticCustomError

from secpipe.model import Severity

EVENTS = ("gate_failed", "new_critical", "new_finding", "runtime_alert")
DEFAULT_EVENTS = ("gate_failed", "new_critical", "runtime_alert")  # new_finding is opt-in: noisy
RUNTIME = "runtime"

# Falco's priorities, most severe first, and the ASFF label each maps to (as the Falco intake
# maps them). `info` is Falcosidekick's alias.
PRIORITIES: dict[str, tuple[int, Severity]] = {
    "emergency": (7, Severity.CRITICAL), "alert": (6, Severity.CRITICAL),
    "critical": (5, Severity.CRITICAL), "error": (4, Severity.HIGH),
    "warning": (3, Severity.MEDIUM), "notice": (2, Severity.LOW),
    "informational": (1, Severity.INFORMATIONAL), "info": (1, Severity.INFORMATIONAL),
    "debug": (0, Severity.INFORMATIONAL),
}
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_INLINE_SECRETS = {"password": "password_env", "secret": "secret_env"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, env_key in _INLINE_SECRETS.items():
                if key in data:
                    raise ValueError(f"'{key}' is never written in secpipe.yml: put it in an "
                                     f"environment variable and name that with '{env_key}'")
        return data


def env_value(name: str | None, what: str) -> str | None:
    """The value of a configured env var at send time; a named but unset variable is an error
    (sending unauthenticated, or unsigned, when the config asked otherwise would be worse)."""
    if not name:
        return None
    value = os.environ.get(name)
    if value is None or value == "":
        raise LookupError(f"{what}: environment variable {name} is not set")
    return value


class SmtpChannel(_Strict):
    """E-mail, text/plain only (nothing to inject HTML into)."""
    type: Literal["smtp"]
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True               # required when credentials are sent
    username_env: str | None = Field(default=None, pattern=_ENV_NAME)
    password_env: str | None = Field(default=None, pattern=_ENV_NAME)
    from_: str = Field(alias="from", min_length=3)
    to: list[str] = Field(min_length=1)
    timeout: float = Field(default=30, gt=0)

    @field_validator("from_")
    @classmethod
    def _sender(cls, v: str) -> str:
        if "@" not in v or "\r" in v or "\n" in v:
            raise ValueError(f"{v!r} is not an e-mail address (`Name <a@b>` or `a@b`)")
        return v

    @field_validator("to")
    @classmethod
    def _addresses(cls, to: list[str]) -> list[str]:
        for addr in to:
            if not re.fullmatch(r"[^@\s<>,]+@[^@\s<>,]+", addr):
                raise ValueError(f"{addr!r} is not an e-mail address")
        return to

    @model_validator(mode="after")
    def _creds_need_tls(self) -> "SmtpChannel":
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("give both username_env and password_env, or neither")
        if self.password_env and not self.starttls:
            raise ValueError("credentials are only sent over STARTTLS: set starttls: true")
        return self


class _UrlChannel(_Strict):
    url: str | None = Field(default=None, pattern=r"^https?://")
    url_env: str | None = Field(default=None, pattern=_ENV_NAME)
    timeout: float = Field(default=10, gt=0)

    @model_validator(mode="after")
    def _one_url(self) -> "_UrlChannel":
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url, url_env")
        return self


class SlackChannel(_UrlChannel):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat): `{text, blocks}`."""
    type: Literal["slack"]


class WebhookChannel(_UrlChannel):
    """Generic JSON POST; with `secret_env`, signed `sha256=<hex HMAC of the body>`."""
    type: Literal["webhook"]
    secret_env: str | None = Field(default=None, pattern=_ENV_NAME)
    signature_header: str = Field(default="X-Secpipe-Signature-256",
                                  pattern=r"^[A-Za-z0-9-]{1,64}$")


class SnsChannel(_Strict):
    type: Literal["sns"]
    topic_arn: str
    region: str | None = None           # default: the ARN's region
    endpoint_url: str | None = None

    @field_validator("topic_arn")
    @classmethod
    def _arn(cls, v: str) -> str:
        if not re.fullmatch(r"arn:[a-z-]+:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}", v):
            raise ValueError(f"{v!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
        return v


class CloudWatchChannel(_Strict):
    """CloudWatch Logs: one JSON event per message; group and stream created when missing."""
    type: Literal["cloudwatch"]
    log_group: str = Field(pattern=r"^[\.\-_/#A-Za-z0-9]{1,512}$")
    log_stream: str = Field(default="secpipe-notifications", pattern=r"^[^:*]{1,512}$")
    region: str | None = None           # default: AWS_REGION
    endpoint_url: str | None = None


Channel = Annotated[Union[SmtpChannel, SlackChannel, WebhookChannel, SnsChannel,
                          CloudWatchChannel], Field(discriminator="type")]


class RateLimit(_Strict):
    max: int = Field(ge=1)              # messages ...
    window: float = Field(default=3600, gt=0)  # ... per this many seconds (sliding)


class NotificationRule(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
    min_severity: Severity | None = None
    min_priority: str | None = None
    sources: list[str] = Field(default_factory=list)   # stage names and/or `runtime`; [] = all
    events: list[Literal["gate_failed", "new_critical", "new_finding", "runtime_alert"]] = \
        Field(default_factory=lambda: list(DEFAULT_EVENTS), min_length=1)
    rate_limit: RateLimit | None = None
    dedup_window: float = Field(default=3600, ge=0)    # seconds; 0 = notify every time
    report_url: str | None = None       # `{run_id}`, `{repo}`, `{branch}`, `{commit}` filled in
    channels: list[Channel] = Field(min_length=1)

    @field_validator("min_severity", mode="before")
    @classmethod
    def _severity(cls, v: Any) -> Any:
        if v is None or isinstance(v, Severity):
            return v
        try:
            return Severity.parse(str(v))
        except ValueError:
            raise ValueError(f"unknown severity {v!r}; use one of: critical, high, medium, "
                             "low, informational") from None

    @field_validator("min_priority", mode="before")
    @classmethod
    def _priority(cls, v: Any) -> Any:
        if v is None:
            return None
        if str(v).strip().lower() not in PRIORITIES:
            raise ValueError(f"unknown Falco priority {v!r}; use one of: emergency, alert, "
                             "critical, error, warning, notice, informational, debug")
        return str(v).strip().lower()

    def wants_source(self, source: str) -> bool:
        return not self.sources or source in self.sources


def check_sources(rules: list[NotificationRule], stages: list[str]) -> None:
    """Every `sources` entry is a stage of the pipeline or `runtime` (a misspelt stage would
    otherwise silently never notify), and rule names are unique (state is kept per rule).

    Raises a ValidationError located inside the list, so `parse_config` reports the very line.
    """
    known = set(stages) | {RUNTIME}
    problems: list[InitErrorDetails] = []
    for i, rule in enumerate(rules):
        for j, src in enumerate(rule.sources):
            if src not in known:
                problems.append(_problem((i, "sources", j), src,
                                         f"unknown source {src!r}; use a stage "
                                         f"({', '.join(sorted(stages))}) or {RUNTIME!r}"))
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.name in seen:
            problems.append(_problem((i, "name"), rule.name, f"rule name {rule.name!r} is used "
                                     "twice (dedup and rate limits are kept per rule)"))
        seen.add(rule.name)
    if problems:
        raise ValidationError.from_exception_data("notifications", problems)


def _problem(loc: tuple[Any, ...], value: Any, msg: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("value_error", "{msg}", {"msg": msg}),
                            loc=loc, input=value)
