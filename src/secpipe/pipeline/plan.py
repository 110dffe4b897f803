"""From a validated config to an ordered stage graph with everything a stage run needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from secpipe.config import ConfigError
from secpipe.model import Severity

if TYPE_CHECKING:  # the pydantic models are imported only when a config file is read
    from secpipe.config_models import PipelineConfig


@dataclass(frozen=True)
class PlannedStage:
    name: str
    tools: tuple[str, ...]
    needs: tuple[str, ...]
    fail_on: Severity
    mode: str
    timeout: float
    new_only: bool = False
    base_branch: str | None = None
    skip_reason: str | None = None  # its `when:` is not met: shown SKIPPED with this reason


@dataclass(frozen=True)
class Plan:
    root: Path
    stages: tuple[PlannedStage, ...]   # in a valid execution order
    options: dict[str, dict[str, Any]]
    exclude: tuple[str, ...]
    git_root: Path | None

    def tool_options(self, tool: str) -> dict[str, Any]:
        return dict(self.options.get(tool) or {})


def build_plan(config: PipelineConfig, root: Path, *, only: Sequence[str] = (),
               exclude: Sequence[str] = (), git_root: Path | None = None) -> Plan:
    """Order stages so every stage follows its needs; refuse unknown names and cycles.

    With `only`, just those stages run (as a CodeBuild project per stage does) and needs outside
    the selection are taken as satisfied.
    """
    names = list(config.stages)
    for wanted in only:
        if wanted not in config.stages:
            raise ConfigError(f"no stage named {wanted!r}; stages: {', '.join(names)}")
    for name, stage in config.stages.items():
        for need in stage.needs:
            if need not in config.stages:
                raise ConfigError(f"stage {name!r} needs {need!r}, which is not a stage")
            if need == name:
                raise ConfigError(f"stage {name!r} needs itself")
    selected = [n for n in names if not only or n in only]
    found: dict[str, bool] = {}  # the tree is walked at most once, only when a stage asks
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ConfigError("stages form a cycle: " + " -> ".join((*trail, name)))
        state[name] = 1
        for need in config.stages[name].needs:
            visit(need, (*trail, name))
        state[name] = 2
        order.append(name)

    for name in names:
        visit(name, ())
    stages = tuple(
        PlannedStage(
            name=n,
            tools=tuple(dict.fromkeys(config.stages[n].tools)),
            needs=tuple(x for x in config.stages[n].needs if x in selected),
            fail_on=config.stage_fail_on(n),
            mode=config.stage_mode(n),
            timeout=config.stage_timeout(n),
            new_only=config.stages[n].new_only,
            base_branch=config.stages[n].base_branch,
            skip_reason=_unmet(config.stages[n].when, root, exclude, found),
        )
        for n in order if n in selected
    )
    return Plan(root=root, stages=stages, options={k: dict(v) for k, v in config.tools.items()},
                exclude=tuple((*config.exclude, *exclude)), git_root=git_root)



def _unmet(when: str, root: Path, exclude: Sequence[str], found: dict[str, bool]) -> str | None:
    """Why a stage's `when:` is not met (None when it is): `lockfiles` looks for a file the
    SBOM builder reads (package-lock.json, yarn.lock, poetry.lock, requirements*.txt, ...)."""
    if when != "lockfiles":
        return None
    if "lockfiles" not in found:
        from secpipe.sbom import parser_for
        from secpipe.scanners._files import walk

        found["lockfiles"] = any(parser_for(p.name) for p in walk(root, exclude))
    if found["lockfiles"]:
        return None
    return ("no lockfile or manifest secpipe reads in the tree (when: lockfiles): no "
            "dependencies to scan")
