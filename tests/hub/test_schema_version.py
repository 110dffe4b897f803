"""The alembic-free "already at head?" check that `open_store` tries first."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from secpipe.hub import store as hub_store
from secpipe.hub.schema_version import at_head, head_revision

MIGRATIONS = Path(hub_store.__file__).with_name("migrations")


def test_head_is_alembics_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision(MIGRATIONS / "versions") == ScriptDirectory.from_config(
        cfg).get_current_head()


def test_unsure_files_answer_none(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text('revision = "b"\ndown_revision = "a"\n')
    assert head_revision(tmp_path) == "b"
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')   # two heads
    assert head_revision(tmp_path) is None
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = ("a", "b")\n')  # a merge
    assert head_revision(tmp_path) is None


def test_at_head_only_for_a_migrated_hub(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    fresh = create_engine(f"sqlite:///{db}")
    assert not at_head(fresh, MIGRATIONS, "secpipe_hub_version")   # no version table yet
    hub_store.open_store(db)
    assert at_head(fresh, MIGRATIONS, "secpipe_hub_version")
    with fresh.begin() as conn:
        conn.execute(text("UPDATE secpipe_hub_version SET version_num = '0004_falco_dead_letters'"))
    assert not at_head(fresh, MIGRATIONS, "secpipe_hub_version")
