"""The suppression file's pydantic models (see `suppressions`), imported only when a run has a
suppression file: a run without one imports no pydantic (see `secpipe.config_default`)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, model_validator

from secpipe import _pydantic  # noqa: F401 - before the first model: no plugin lookup


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    rule: str | None = None
    path: str | None = None
    tool: str | None = None
    reason: str = Field(min_length=3)
    expires: dt.date

    @model_validator(mode="after")
    def _matches_something(self) -> "_Entry":
        if not (self.id or self.rule or self.path):
            raise ValueError("an entry needs at least one of id, rule or path")
        return self


class SuppressionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    suppressions: list[_Entry] = Field(default_factory=list)
