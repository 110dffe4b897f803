"""Notifications: rules in secpipe.yml's `notifications:` send pipeline results (gate failed,
new CRITICAL findings) and runtime alerts to e-mail, Slack-compatible and generic webhooks,
AWS SNS and CloudWatch Logs, deduplicated and rate limited.

`secpipe.config` imports `secpipe.notify.config` at start-up, so this package imports nothing
heavy itself: the dispatcher (and httpx, boto3, smtplib behind it) loads on first use.

For the runtime intake::

    notifier = load_notifier(Path("secpipe.yml"))        # None without notification rules
    if notifier is not None:
        notifier.notify_findings(asff_objects, source="runtime")
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secpipe.notify.dispatcher import Delivery, Notifier


def load_notifier(config_file: Path | None = None, *, root: Path | None = None,
                  state: Path | None = None) -> "Notifier | None":
    """The notifier of a project's secpipe.yml (explicit file, else the one in `root`, else the
    current directory), or None when it has no `notifications:`. Raises ConfigError."""
    from secpipe.config import load_config
    from secpipe.notify.dispatcher import Notifier

    loaded = load_config((root or Path.cwd()).resolve(), config_file)
    rules = loaded.config.notifications
    return Notifier(rules, state=state) if rules else None


def __getattr__(name: str) -> Any:
    if name in ("Notifier", "Delivery", "write_outcomes"):
        from secpipe.notify import dispatcher
        return getattr(dispatcher, name)
    raise AttributeError(name)


__all__ = ["Delivery", "Notifier", "load_notifier", "write_outcomes"]
