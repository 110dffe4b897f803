"""The command line, one module per command group.

`main` (the root group with run, convert, formats, doctor, tools) lives in `main.py`; each area
(hub, db, aws, falco, notify) registers its own commands here, so no command module imports
another and the package has no import circle."""

from __future__ import annotations

from secpipe.cli import aws, cache, db, falco, hub, hub_admin, notify
from secpipe.cli.main import main

for _area in (hub, db, aws, falco, notify, cache):
    _area.register(main)
hub_admin.register(hub.hub)   # keys, users, audit under `secpipe hub`

__all__ = ["main"]
