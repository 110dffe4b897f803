"""`secpipe.yml`'s pydantic models and their parser (`secpipe.config` is the entry point).

Apart from `secpipe.config` so that a run without a config file (the built-in default pipeline,
see `config_default`) imports neither pydantic nor these models: about 0.2 s of CPU, a large
part of an unchanged re-run's own time. Every name here is also reachable as
`secpipe.config.NAME`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo,
                      field_validator)

from secpipe import _pydantic  # noqa: F401 - before the first model: no plugin lookup
from secpipe.config_default import PipelineLookups
from secpipe.config_errors import ConfigError
from secpipe.model import Severity
from secpipe.notify.config import NotificationRule, check_sources


def _severity(value: Any) -> Severity:
    if isinstance(value, Severity):
        return value
    try:
        sev = Severity.parse(str(value))
    except ValueError:
        raise ValueError(
            f"unknown severity {value!r}; use one of: critical, high, medium, low, informational"
        ) from None
    return sev


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageConfig(_Strict):
    tools: list[str] = Field(min_length=1)
    needs: list[str] = Field(default_factory=list)
    fail_on: Severity | None = None
    mode: Literal["enforce", "advisory"] | None = None
    timeout: float | None = Field(default=None, gt=0)
    description: str = ""
    new_only: bool = False              # gate only on findings the baseline run did not have
    base_branch: str | None = None      # baseline: latest run of this branch (default: own branch)
    # `lockfiles`: run only when the tree holds a lockfile or manifest secpipe reads (the
    # default pipeline's sbom and sca stages); otherwise the stage is SKIPPED, saying why
    when: Literal["always", "lockfiles"] = "always"

    @field_validator("fail_on", mode="before")
    @classmethod
    def _fail_on(cls, v: Any) -> Any:
        return None if v is None else _severity(v)


class Defaults(_Strict):
    fail_on: Severity = Severity.HIGH
    mode: Literal["enforce", "advisory"] = "enforce"
    timeout: float = Field(default=900, gt=0)

    @field_validator("fail_on", mode="before")
    @classmethod
    def _fail_on(cls, v: Any) -> Any:
        return _severity(v)


class ProjectConfig(_Strict):
    name: str = ""
    repo: str = ""
    account_id: str = Field(default="000000000000", pattern=r"^\d{12}$")
    region: str = "us-east-1"
    partition: Literal["aws", "aws-cn", "aws-us-gov"] = "aws"


class SecurityHubSinkConfig(_Strict):
    """`{type: securityhub}`: BatchImportFindings into the account of the credentials in use."""
    type: Literal["securityhub"]
    region: str | None = None           # default: AWS_REGION / the AWS config
    account_id: str | None = Field(default=None, pattern=r"^\d{12}$")  # default: STS
    endpoint_url: str | None = None     # e.g. secpipe's own hub API
    max_batch: int = Field(default=100, ge=1, le=100)


class S3SinkConfig(_Strict):
    """`{type: s3, bucket: ...}`: raw reports and run outputs archived (see secpipe.sinks.s3)."""
    type: Literal["s3"]
    bucket: str | None = None           # default: SECPIPE_S3_BUCKET
    prefix: str = ""
    kms_key_id: str | None = None       # SSE-KMS with this key (default: SECPIPE_KMS_KEY_ID)
    region: str | None = None
    endpoint_url: str | None = None


SinkConfig = Annotated[Union[SecurityHubSinkConfig, S3SinkConfig], Field(discriminator="type")]


class PipelineConfig(_Strict, PipelineLookups):
    version: Literal[1] = 1
    project: ProjectConfig = Field(default_factory=ProjectConfig)
    output: str = ".secpipe"
    suppressions: str | None = None
    exclude: list[str] = Field(default_factory=list)
    jobs: int | None = Field(default=None, ge=1, le=64)
    defaults: Defaults = Field(default_factory=Defaults)
    stages: dict[str, StageConfig] = Field(min_length=1)
    tools: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sinks: list[SinkConfig] = Field(default_factory=list)  # after the run: see secpipe.sinks
    notifications: list[NotificationRule] = Field(default_factory=list)  # see secpipe.notify

    @field_validator("stages")
    @classmethod
    def _stage_names(cls, stages: dict[str, StageConfig]) -> dict[str, StageConfig]:
        for name in stages:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", name):
                raise ValueError(
                    f"stage name {name!r} must be lower-case letters, digits, '-' or '_'"
                )
        return stages

    @field_validator("notifications")
    @classmethod
    def _notification_sources(cls, rules: list[NotificationRule], info: ValidationInfo
                              ) -> list[NotificationRule]:
        if "stages" in info.data:  # else the stages' own error is the one to read
            check_sources(rules, list(info.data["stages"]))
        return rules


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping key and sequence item."""


def _compose_lines(text: str) -> dict[tuple[Any, ...], int]:
    lines: dict[tuple[Any, ...], int] = {}
    node = yaml.compose(text, Loader=_LineLoader)

    def walk(n: yaml.Node, path: tuple[Any, ...]) -> None:
        lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                sub = path + (key.value,)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, path + (i,))

    if node is not None:
        walk(node, ())
    return lines


def _line_for(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def parse_config(text: str, source: str = "secpipe.yml") -> PipelineConfig:
    """Validate config text; raise ConfigError naming key and line for every problem."""
    try:
        data = yaml.safe_load(text)
        lines = _compose_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else "?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}:{line}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: line 1: the top level must be a mapping with 'stages:'")
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
            key = ".".join(str(p) for p in loc) or "(top level)"
            line = _line_for(lines, loc)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling; see `secpipe run --help`)"
            problems.append(f"{source}:{line or '?'}: {key}: {msg}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
