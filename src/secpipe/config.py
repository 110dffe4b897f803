"""`secpipe.yml`: the pipeline's stages, tools and gates, validated with errors that point at lines.

Keys mirror the CLI and the seed's stages so a config reads like the pipeline it describes. Every
error names the key path and the line of the file it came from, because a pipeline that fails on
"validation error" with no place to look wastes a CI cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secpipe.config_errors import ConfigError

CONFIG_NAMES = ("secpipe.yml", "secpipe.yaml", ".secpipe.yml")
DEFAULT_PIPELINE = Path(__file__).with_name("default-pipeline.yml")

# secpipe.config_models' names, imported on first use (see __getattr__)
_MODEL_NAMES = frozenset({
    "StageConfig", "Defaults", "ProjectConfig", "SecurityHubSinkConfig", "S3SinkConfig",
    "SinkConfig", "PipelineConfig", "parse_config"})
__all__ = ["CONFIG_NAMES", "DEFAULT_PIPELINE", "ConfigError", "LoadedConfig", "find_config",
           "load_config", *sorted(_MODEL_NAMES)]


def __getattr__(name: str) -> Any:
    """`secpipe.config.PipelineConfig`, `.parse_config`, ...: the pydantic models live in
    `config_models`, imported only when a config file is read or a model is asked for."""
    if name in _MODEL_NAMES:
        from secpipe import config_models

        return getattr(config_models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class LoadedConfig:
    """The run's config and where it came from."""
    config: Any   # config_models.PipelineConfig, or config_default.DefaultPipeline
    path: Path | None  # None: the built-in default pipeline

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "built-in default pipeline"


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
        from secpipe.config_default import default_pipeline

        text = DEFAULT_PIPELINE.read_text(encoding="utf-8")
        config = default_pipeline(text)
        if config is None:  # a default the plain reader does not cover: pydantic's models
            from secpipe.config_models import parse_config as parse

            config = parse(text, "default-pipeline.yml")
        return LoadedConfig(config=config, path=None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    from secpipe.config_models import parse_config as parse

    return LoadedConfig(config=parse(text, str(path)), path=path)
