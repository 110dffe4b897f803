"""`secpipe.yml`: the pipeline's stages, tools and gates, validated with errors that point at lines.

Keys mirror the CLI and the seed's stages so a config reads like the pipeline it describes. Every
error names the key path and the line of the file it came from, because a pipeline that fails on
"validation error" with no place to look wastes a CI cycle.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo,
                      field_validator)


def _no_pydantic_plugins() -> None:
    """secpipe's models are its own: pydantic's plugin lookup (on the first model built)
    reads every installed package's entry points, 50 ms of each run's start-up, to find
    plugins secpipe does not use. Setting its cache to "none found" skips the lookup; a
    pydantic without that cache just looks as before."""
    from pydantic.plugin import _loader

    if getattr(_loader, "_plugins", ()) is None:
        _loader._plugins = {}


_no_pydantic_plugins()

from secpipe.model import Severity
from secpipe.notify.config import NotificationRule, check_sources

CONFIG_NAMES = ("secpipe.yml", "secpipe.yaml", ".secpipe.yml")
DEFAULT_PIPELINE = Path(__file__).with_name("default-pipeline.yml")


class ConfigError(Exception):
    """The configuration is unusable; the message names the file, key and line."""


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


class PipelineConfig(_Strict):
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

    def stage_fail_on(self, name: str) -> Severity:
        return self.stages[name].fail_on or self.defaults.fail_on

    def stage_mode(self, name: str) -> str:
        return self.stages[name].mode or self.defaults.mode

    def stage_timeout(self, name: str) -> float:
        return self.stages[name].timeout or self.defaults.timeout

    def tool_options(self, tool: str) -> dict[str, Any]:
        return dict(self.tools.get(tool) or {})


class LoadedConfig(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    config: PipelineConfig
    path: Path | None  # None: the built-in default pipeline

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "built-in default pipeline"


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


def find_config(root: Path) -> Path | None:
    for name in CONFIG_NAMES:
        candidate = root / name
        if candidate.is_file():
            return candidate
    return None


def load_config(root: Path, explicit: Path | None = None) -> LoadedConfig:
    """The project's config (explicit file, else secpipe.yml in root), else the default pipeline."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: no such config file")
        path: Path | None = explicit
    else:
        path = find_config(root)
    if path is None:
        text = DEFAULT_PIPELINE.read_text(encoding="utf-8")
        return LoadedConfig(config=parse_config(text, "default-pipeline.yml"), path=None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return LoadedConfig(config=parse_config(text, str(path)), path=path)
