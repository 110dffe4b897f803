"""secpipe's own start-up stays small: `--help` imports no command group's heavy modules.

The time itself is measured by `python -X importtime -m secpipe --help` (target < 0.3 s), not
asserted here; what is asserted is the mechanism: what gets imported, and that the lazily
registered commands work and describe themselves exactly as their modules do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["pydantic", "sqlalchemy", "alembic", "jinja2", "yaml", "boto3", "starlette",
         "secpipe.config", "secpipe.formats", "secpipe.hub", "secpipe.pipeline"]


def _last_json(code: str) -> Any:
    """Run `code` in a fresh interpreter on this checkout's src: its last stdout line, as JSON."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          check=True)
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys, json\n"
            "from secpipe.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{sorted({h.split('.')[0] for h in HEAVY})!r} or m in {HEAVY!r})))\n")
    loaded = _last_json(code)
    assert [m for m in loaded if m.split(".")[0] != "secpipe" or m in HEAVY] == [], loaded


def test_lazy_commands_match_their_modules() -> None:
    import importlib

    from secpipe.cli import main

    for name, (module, text) in main.lazy.items():
        group = click.Group()
        importlib.import_module(module).register(group)
        assert name in group.commands, (name, module)
        assert group.commands[name].get_short_help_str(limit=1000) == text, name
    # every command a module registers is listed, so none disappears from --help
    for module in {m for m, _ in main.lazy.values()}:
        group = click.Group()
        importlib.import_module(module).register(group)
        assert set(group.commands) <= set(main.lazy), module


def test_lazy_commands_run_and_show_in_help() -> None:
    from secpipe.cli import main

    runner = CliRunner()
    out = runner.invoke(main, ["--help"]).output
    for name in main.lazy:
        assert f"  {name} " in out, name
    done = runner.invoke(main, ["findings", "--help"])
    assert done.exit_code == 0 and "Usage:" in done.output


def test_a_builtin_format_is_imported_alone() -> None:
    """Each tool asks for its own format: a built-in one is imported without the 35 others
    and without reading every installed package's entry points, and is the very object the
    full registry holds."""
    code = ("import sys, json\n"
            "from secpipe.formats.registry import BUILTIN, all_formats, get_format\n"
            "fmt = get_format('hadolint')\n"
            "alone = sorted(m for m in sys.modules if m.startswith('secpipe.formats.') and "
            "m.split('.')[2] in {v.split('.')[-1] for v in BUILTIN.values()})\n"
            "full = all_formats()\n"
            "same = all(get_format(n) is full[n] for n in BUILTIN) and fmt is full['hadolint']\n"
            "print(json.dumps([alone, same]))\n")
    alone, same = _last_json(code)
    assert alone == ["secpipe.formats.hadolint"], alone
    assert same is True


def test_a_builtin_scanner_is_imported_alone() -> None:
    """A run imports the adapters of its own tools: `get_scanner` of a built-in imports that
    adapter's module alone, and the lazy table names each adapter by its own `name`."""
    code = ("import sys, json\n"
            "from secpipe.scanners.registry import BUILT_IN, all_scanners, get_scanner\n"
            "get_scanner('hadolint')\n"
            "mods = {v.split(':')[0] for v in BUILT_IN.values()}\n"
            "alone = sorted(m for m in sys.modules if m in mods)\n"
            "full = all_scanners()\n"
            "names = [(n, full[n].name) for n in BUILT_IN]\n"
            "print(json.dumps([alone, names, list(full)[:len(BUILT_IN)]]))\n")
    alone, names, order = _last_json(code)
    assert alone == ["secpipe.scanners.hadolint"], alone
    assert all(key == name for key, name in names), names
    assert len(names) == 17 and order == [key for key, _ in names]


def test_config_models_do_not_read_every_package_entry_points() -> None:
    """pydantic looks for plugins on its first model by reading every installed package's
    entry points (50 ms of a run's start-up); secpipe's config skips that lookup."""
    code = ("import importlib.metadata as md, json\n"
            "calls = []\n"
            "real = md.entry_points\n"
            "md.entry_points = lambda *a, **k: calls.append(k) or real(*a, **k)\n"
            "from secpipe.config import load_config\n"
            "from secpipe.pipeline import suppressions\n"
            "import pathlib, tempfile\n"
            "load_config(pathlib.Path(tempfile.mkdtemp()), None)\n"
            "d = pathlib.Path(tempfile.mkdtemp())\n"
            "(d / 'secpipe.yml').write_text('stages: {s: {tools: [hadolint]}}')\n"
            "assert load_config(d).config.stages['s'].tools == ['hadolint']\n"
            "print(json.dumps(calls))\n")
    assert _last_json(code) == []


def test_a_run_collects_cycles_less_often_and_gives_the_settings_back() -> None:
    """`secpipe run` freezes what is imported and collects young cycles every 50,000
    allocations; an in-process caller (a test, CliRunner) gets its own settings back."""
    import gc

    from secpipe.cli.main import _calm_gc

    before = gc.get_threshold()
    with _calm_gc():
        assert gc.get_threshold() == (50_000, 20, 10)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
