"""The built-in default pipeline without pydantic: a run on a project with no secpipe.yml.

Importing pydantic and building secpipe.yml's models costs about 0.2 s of CPU in every run,
most of an unchanged re-run's start-up, although the default pipeline is secpipe's own file
and needs no user-facing validation. `default_pipeline` reads it into plain frozen objects with
the same attributes, values, types and methods as `config_models.PipelineConfig` would give
(tests/test_config_default.py compares the two field by field). Anything it does not cover
(another key, another value type) returns None, and the caller validates with pydantic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from secpipe.model import Severity

_MODES = ("enforce", "advisory")
_WHEN = ("always", "lockfiles")
_STAGE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


@dataclass(frozen=True)
class DefaultStage:
    tools: list[str]
    needs: list[str] = field(default_factory=list)
    fail_on: Severity | None = None
    mode: str | None = None
    timeout: float | None = None
    description: str = ""
    new_only: bool = False
    base_branch: str | None = None
    when: str = "always"


@dataclass(frozen=True)
class DefaultDefaults:
    fail_on: Severity = Severity.HIGH
    mode: str = "enforce"
    timeout: float = 900


@dataclass(frozen=True)
class DefaultProject:
    name: str = ""
    repo: str = ""
    account_id: str = "000000000000"
    region: str = "us-east-1"
    partition: str = "aws"


class PipelineLookups:
    """A stage's effective settings (its own, else the defaults'), for both pipeline classes:
    `config_models.PipelineConfig` (validated secpipe.yml) and `DefaultPipeline` below."""

    # the classes using it have `stages`, `defaults` and `tools`; none declared here, so that
    # neither pydantic nor dataclasses takes them for fields of this class

    def stage_fail_on(self, name: str) -> Severity:
        return self.stages[name].fail_on or self.defaults.fail_on

    def stage_mode(self, name: str) -> str:
        return self.stages[name].mode or self.defaults.mode

    def stage_timeout(self, name: str) -> float:
        return self.stages[name].timeout or self.defaults.timeout

    def tool_options(self, tool: str) -> dict[str, Any]:
        return dict(self.tools.get(tool) or {})


@dataclass(frozen=True)
class DefaultPipeline(PipelineLookups):
    """`PipelineConfig`'s attributes and methods, for the built-in default pipeline."""
    stages: dict[str, DefaultStage]
    version: int = 1
    project: DefaultProject = field(default_factory=DefaultProject)
    output: str = ".secpipe"
    suppressions: str | None = None
    exclude: list[str] = field(default_factory=list)
    jobs: int | None = None
    defaults: DefaultDefaults = field(default_factory=DefaultDefaults)
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    sinks: list = field(default_factory=list)
    notifications: list = field(default_factory=list)


class _Unsupported(Exception):
    """Something the plain reader does not cover: pydantic decides."""


def default_pipeline(text: str) -> DefaultPipeline | None:
    """The default pipeline's text as plain objects, or None where pydantic must decide."""
    import yaml

    try:
        # libyaml's loader where PyYAML has it (a tenth of the pure-Python one's 2.6 ms); the
        # pydantic reading, which tests/test_config_default.py compares this one with, uses the
        # pure-Python loader
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
        return _pipeline(data)
    except (_Unsupported, yaml.YAMLError):
        return None


def _keys(data: Any, allowed: set[str]) -> dict:
    if not isinstance(data, dict) or not set(data) <= allowed or \
            not all(isinstance(k, str) for k in data):
        raise _Unsupported
    return data


def _str(value: Any) -> str:
    if type(value) is not str:
        raise _Unsupported
    return value


def _strs(value: Any) -> list[str]:
    if type(value) is not list:
        raise _Unsupported
    return [_str(v) for v in value]


def _choice(value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed or type(value) is not str:
        raise _Unsupported
    return value


def _severity(value: Any) -> Severity:
    try:
        return Severity.parse(_str(value))
    except ValueError:
        raise _Unsupported from None


def _timeout(value: Any) -> float:
    # pydantic's float field turns an int into a float; anything else is pydantic's to judge
    if type(value) not in (int, float) or not value > 0:
        raise _Unsupported
    return float(value)


def _pipeline(data: Any) -> DefaultPipeline:
    data = _keys(data, {"version", "defaults", "stages", "tools"})
    if data.get("version", 1) != 1 or type(data.get("version", 1)) is not int:
        raise _Unsupported
    defaults = DefaultDefaults()
    if "defaults" in data:
        d = _keys(data["defaults"], {"fail_on", "mode", "timeout"})
        defaults = DefaultDefaults(
            fail_on=_severity(d["fail_on"]) if "fail_on" in d else Severity.HIGH,
            mode=_choice(d["mode"], _MODES) if "mode" in d else "enforce",
            timeout=_timeout(d["timeout"]) if "timeout" in d else 900)
    stages = {}
    for name, raw in _keys(data.get("stages"), set(data.get("stages") or ())).items():
        if not _STAGE_NAME.fullmatch(name):
            raise _Unsupported
        s = _keys(raw, {"tools", "needs", "fail_on", "mode", "timeout", "description",
                        "new_only", "base_branch", "when"})
        tools = _strs(s.get("tools"))
        if not tools or type(s.get("new_only", False)) is not bool:
            raise _Unsupported
        stages[name] = DefaultStage(
            tools=tools, needs=_strs(s.get("needs", [])),
            fail_on=_severity(s["fail_on"]) if s.get("fail_on") is not None else None,
            mode=_choice(s["mode"], _MODES) if s.get("mode") is not None else None,
            timeout=_timeout(s["timeout"]) if s.get("timeout") is not None else None,
            description=_str(s.get("description", "")), new_only=s.get("new_only", False),
            base_branch=_str(s["base_branch"]) if s.get("base_branch") is not None else None,
            when=_choice(s.get("when", "always"), _WHEN))
    if not stages:
        raise _Unsupported
    tools = {}
    for tool, options in _keys(data.get("tools", {}), set(data.get("tools") or ())).items():
        tools[tool] = dict(_keys(options, set(options or ())))
    return DefaultPipeline(stages=stages, defaults=defaults, tools=tools)
