"""The built-in default pipeline read without pydantic (`secpipe.config_default`) against
`parse_config`'s pydantic models: the same attributes, values, value types and methods, on the
shipped file and on edited copies of it; whatever the plain reader does not cover is left to
pydantic (None), never read differently."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from secpipe.config import DEFAULT_PIPELINE, ConfigError, load_config, parse_config
from secpipe.config_default import DefaultPipeline, default_pipeline

_TEXT = DEFAULT_PIPELINE.read_text(encoding="utf-8")


def _same(plain: Any, model: Any, where: str = "config") -> None:
    """Every field pydantic's model has, compared with its type, recursively."""
    if isinstance(model, BaseModel):
        for name in type(model).model_fields:
            _same(getattr(plain, name), getattr(model, name), f"{where}.{name}")
        return
    assert type(plain) is type(model), f"{where}: {type(plain)} != {type(model)}"
    if isinstance(model, dict):
        assert list(plain) == list(model), where
        for key in model:
            _same(plain[key], model[key], f"{where}[{key!r}]")
    elif isinstance(model, list):
        assert len(plain) == len(model), where
        for i, (a, b) in enumerate(zip(plain, model)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert plain == model, where


def _compare(text: str) -> bool:
    """True when the plain reader covered the text (and then agrees with pydantic); a text
    pydantic refuses must be left to it."""
    plain = default_pipeline(text)
    try:
        model = parse_config(text, "default-pipeline.yml")
    except ConfigError:
        assert plain is None
        return False
    if plain is None:
        return False
    _same(plain, model)
    for name in model.stages:
        assert plain.stage_fail_on(name) is model.stage_fail_on(name)
        assert plain.stage_mode(name) == model.stage_mode(name)
        for a, b in ((plain.stage_timeout(name), model.stage_timeout(name)),):
            assert (type(a), a) == (type(b), b)
    for tool in [*model.tools, "nope"]:
        assert plain.tool_options(tool) == model.tool_options(tool)
    return True


def test_the_shipped_default_reads_the_same_without_pydantic(tmp_path: Path) -> None:
    assert _compare(_TEXT)
    loaded = load_config(tmp_path)  # no secpipe.yml there
    assert isinstance(loaded.config, DefaultPipeline) and loaded.path is None
    assert loaded.source == "built-in default pipeline"


def _edits() -> list[tuple[str, Any]]:
    base = yaml.safe_load(_TEXT)
    out = []

    def edit(name: str, fn) -> None:
        data = copy.deepcopy(base)
        fn(data)
        out.append((name, data))

    first = next(iter(base["stages"]))
    edit("timeout int", lambda d: d["defaults"].__setitem__("timeout", 30))
    edit("timeout float", lambda d: d["defaults"].__setitem__("timeout", 2.5))
    edit("timeout zero", lambda d: d["defaults"].__setitem__("timeout", 0))
    edit("timeout str", lambda d: d["defaults"].__setitem__("timeout", "30"))
    edit("timeout bool", lambda d: d["defaults"].__setitem__("timeout", True))
    edit("no defaults", lambda d: d.pop("defaults"))
    edit("empty defaults", lambda d: d.__setitem__("defaults", {}))
    edit("defaults fail_on upper", lambda d: d["defaults"].__setitem__("fail_on", "CRITICAL"))
    edit("defaults fail_on bad", lambda d: d["defaults"].__setitem__("fail_on", "worst"))
    edit("defaults fail_on null", lambda d: d["defaults"].__setitem__("fail_on", None))
    edit("mode advisory", lambda d: d["defaults"].__setitem__("mode", "advisory"))
    edit("mode bad", lambda d: d["defaults"].__setitem__("mode", "loud"))
    edit("stage timeout", lambda d: d["stages"][first].__setitem__("timeout", 12))
    edit("stage fail_on null", lambda d: d["stages"][first].__setitem__("fail_on", None))
    edit("stage mode", lambda d: d["stages"][first].__setitem__("mode", "advisory"))
    edit("stage new_only", lambda d: d["stages"][first].__setitem__("new_only", True))
    edit("stage new_only str", lambda d: d["stages"][first].__setitem__("new_only", "yes"))
    edit("stage base_branch", lambda d: d["stages"][first].__setitem__("base_branch", "main"))
    edit("stage when bad", lambda d: d["stages"][first].__setitem__("when", "sometimes"))
    edit("stage no tools", lambda d: d["stages"][first].__setitem__("tools", []))
    edit("stage tool int", lambda d: d["stages"][first].__setitem__("tools", [1]))
    edit("stage unknown key", lambda d: d["stages"][first].__setitem__("colour", "red"))
    edit("stage description int", lambda d: d["stages"][first].__setitem__("description", 3))
    edit("stage name bad", lambda d: d["stages"].__setitem__("Bad Name", {"tools": ["x"]}))
    edit("stage null", lambda d: d["stages"].__setitem__(first, None))
    edit("no stages", lambda d: d.__setitem__("stages", {}))
    edit("version 2", lambda d: d.__setitem__("version", 2))
    edit("version true", lambda d: d.__setitem__("version", True))
    edit("project", lambda d: d.__setitem__("project", {"name": "p"}))
    edit("exclude", lambda d: d.__setitem__("exclude", ["x"]))
    edit("tool null", lambda d: d["tools"].__setitem__("checkov", None))
    edit("tool options", lambda d: d["tools"].__setitem__("hadolint", {"a": [1, 2]}))
    edit("no tools", lambda d: d.pop("tools"))
    return out


@pytest.mark.parametrize("name,data", _edits(), ids=[n for n, _ in _edits()])
def test_an_edited_default_is_read_the_same_or_left_to_pydantic(name: str, data: Any) -> None:
    _compare(yaml.safe_dump(data, sort_keys=False))


def test_the_edits_cover_both_outcomes() -> None:
    texts = [yaml.safe_dump(data, sort_keys=False) for _, data in _edits()]
    covered = [_compare(t) for t in texts]
    assert sum(covered) >= 10 and len(covered) - sum(covered) >= 10


def test_a_run_without_a_config_file_imports_no_pydantic(tmp_path: Path) -> None:
    """Nor importlib.metadata (entry points are read only for a tool or format that is not
    built in; ~30 ms of start-up)."""
    code = ("import sys, pathlib\n"
            "import secpipe.tools, secpipe.cli.main\n"
            "from secpipe.pipeline.api import prepare, RunRequest\n"
            f"prepare(RunRequest(root=pathlib.Path({str(tmp_path)!r})))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pydantic', 'pydantic_core') or m in ('secpipe.config_models', "
            "'importlib.metadata')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
