"""Opening the hub a command names, and mapping the hub's errors onto exit 2: shared by the
findings/import/serve commands (cli.hub) and the keys/users/audit commands (cli.hub_admin),
so neither imports the other."""

from __future__ import annotations

from pathlib import Path

DEFAULT_HUB = str(Path(".secpipe") / "hub.db")


def _open(hub: str | None):
    from secpipe.pipeline.hubsync import HubSyncError, open_hub

    from secpipe.cli._common import _fail
    try:
        return open_hub(hub or DEFAULT_HUB)
    except HubSyncError as exc:
        raise _fail(str(exc)) from None


def _hub_errors(fn):
    """Turn the hub's own errors into `error: ...` and exit 2."""
    import functools

    from secpipe.hub.interface import HubError

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from secpipe.cli._common import _fail
        try:
            return fn(*args, **kwargs)
        except HubError as exc:
            raise _fail(f"{exc.code}: {exc.message}") from None
    return wrapper
