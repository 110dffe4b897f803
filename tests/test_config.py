from __future__ import annotations

from pathlib import Path

import pytest

from secpipe.config import ConfigError, load_config, parse_config
from secpipe.model import Severity
from secpipe.pipeline.plan import build_plan

GOOD = """\
version: 1
defaults:
  fail_on: medium
stages:
  secrets:
    tools: [git-secrets]
    fail_on: low
  iac:
    tools: [checkov]
    needs: [secrets]
    mode: advisory
    timeout: 30
tools:
  checkov:
    frameworks: [helm]
"""


def test_valid_config_and_defaults() -> None:
    cfg = parse_config(GOOD)
    assert list(cfg.stages) == ["secrets", "iac"]
    assert cfg.stage_fail_on("secrets") is Severity.LOW
    assert cfg.stage_fail_on("iac") is Severity.MEDIUM  # from defaults
    assert cfg.stage_mode("iac") == "advisory"
    assert cfg.stage_timeout("iac") == 30
    assert cfg.tool_options("checkov") == {"frameworks": ["helm"]}


def test_errors_name_key_and_line() -> None:
    text = GOOD.replace("fail_on: low", "fail_on: urgent").replace("    timeout: 30", "    timout: 30")
    with pytest.raises(ConfigError) as err:
        parse_config(text, "p.yml")
    msg = str(err.value)
    assert "p.yml:7: stages.secrets.fail_on" in msg and "urgent" in msg
    assert "p.yml:12: stages.iac.timout: unknown key" in msg


def test_yaml_syntax_error_has_line() -> None:
    with pytest.raises(ConfigError, match=r"p.yml:[34]: not valid YAML"):
        parse_config("stages:\n  a:\n    tools: [x\n  b: 1\n", "p.yml")


@pytest.mark.parametrize("text, needle", [
    ("[]", "top level must be a mapping"),
    ("version: 2\nstages: {a: {tools: [x]}}", "version"),
    ("stages: {}", "stages"),
    ("stages: {A B: {tools: [x]}}", "stage name"),
    ("stages: {a: {tools: []}}", "tools"),
    ("stages: {a: {tools: [x], timeout: -1}}", "timeout"),
    ("stages: {a: {tools: [x], mode: maybe}}", "mode"),
])
def test_invalid_configs(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_config(text)


def test_default_pipeline_when_no_file(tmp_path: Path) -> None:
    loaded = load_config(tmp_path)
    assert loaded.path is None
    # sbom and sca are `when: lockfiles`: planned only when the tree holds one
    assert list(loaded.config.stages) == ["secrets", "dockerfile", "iac", "sbom", "sca"]


def test_dependency_stages_only_when_the_tree_holds_a_lockfile(tmp_path: Path) -> None:
    cfg = load_config(tmp_path).config

    def skipped(root: Path, **kw) -> dict[str, str | None]:
        return {s.name: s.skip_reason for s in build_plan(cfg, root, **kw).stages}

    plan = skipped(tmp_path)
    assert list(plan) == ["secrets", "dockerfile", "iac", "sbom", "sca"]
    assert plan["secrets"] is None and "no lockfile" in plan["sbom"] and plan["sca"] == plan["sbom"]
    (tmp_path / "node_modules" / "x").mkdir(parents=True)  # excluded: not the project's
    (tmp_path / "node_modules" / "x" / "package-lock.json").write_text("{}")
    assert skipped(tmp_path)["sca"] is not None
    (tmp_path / "requirements.txt").write_text("flask==0.12\n")
    assert set(skipped(tmp_path).values()) == {None}
    assert build_plan(cfg, tmp_path).stages[-1].needs == ("sbom",)
    assert skipped(tmp_path, only=["sca"]) == {"sca": None}  # its SBOM need: satisfied


def test_explicit_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path, tmp_path / "nope.yml")


def test_plan_orders_by_needs_and_selects() -> None:
    cfg = parse_config("""
stages:
  deploy: {tools: [x], needs: [build]}
  build: {tools: [y]}
  lint: {tools: [z]}
""")
    plan = build_plan(cfg, Path("."))
    names = [s.name for s in plan.stages]
    assert names.index("build") < names.index("deploy")
    only = build_plan(cfg, Path("."), only=["deploy"])
    assert [s.name for s in only.stages] == ["deploy"] and only.stages[0].needs == ()


def test_plan_refuses_cycles_and_unknown_needs() -> None:
    with pytest.raises(ConfigError, match="cycle"):
        build_plan(parse_config("stages: {a: {tools: [x], needs: [b]}, b: {tools: [x], needs: [a]}}"), Path("."))
    with pytest.raises(ConfigError, match="not a stage"):
        build_plan(parse_config("stages: {a: {tools: [x], needs: [zz]}}"), Path("."))
    with pytest.raises(ConfigError, match="no stage named"):
        build_plan(parse_config("stages: {a: {tools: [x]}}"), Path("."), only=["b"])
