"""The custom action: a finding sent, on a user's choice, to a notification channel.

Security Hub sends a finding to EventBridge when a user picks a custom action, and a rule
there routes it. The hub routes it itself: an action target's Id names the notification rule
of secpipe.yml (`notifications:` in `secpipe.notify.config`) whose `name` is that Id, and the
findings go to every channel of that rule, now - the rule's events, thresholds, dedup window
and rate limit do not apply, because a person asked for this message. Which secpipe.yml the
hub reads is `hub serve --config FILE` ($SECPIPE_HUB_CONFIG; `install` for an app built in
code), else ./secpipe.yml when it exists.

Delivery happens outside any database transaction (a slow mail server must not hold the
hub's write lock); the store audits the call afterwards with the actor and the outcome.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from secpipe.hub.interface import ResourceNotFound

EVENT = "custom_action"
STATE_KEY = "secpipe_action_config"
ENV_CONFIG = "SECPIPE_HUB_CONFIG"        # `hub serve --config FILE` sets it


@dataclass
class Outcome:
    """What one invocation did: the rule, and per channel whether it went out."""

    rule: str
    subject: str
    channels: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        ok = [c for c in self.channels if c["Ok"]]
        return "sent" if ok and len(ok) == len(self.channels) else "partial" if ok else "failed"

    def as_json(self) -> dict[str, Any]:
        return {"Status": self.status, "Rule": self.rule, "Subject": self.subject,
                "Channels": self.channels}


class ActionSender:
    """The notification rules of one secpipe.yml, by name, for custom actions."""

    def __init__(self, config_file: Path | None, *, attempts: int = 3,
                 base_delay: float = 0.5) -> None:
        self.config_file = config_file
        self.attempts = attempts
        self.base_delay = base_delay

    def rules(self) -> dict[str, Any]:
        """Read on every call: editing secpipe.yml needs no hub restart. ConfigError (a bad
        file) propagates: the caller gets a clear error, not a silent no-op."""
        if self.config_file is None:
            return {}
        from secpipe.config import load_config

        path = Path(self.config_file)
        loaded = load_config(path.resolve().parent, path)
        return {rule.name: rule for rule in loaded.config.notifications}

    def send(self, target: Mapping[str, Any], findings: Sequence[Mapping[str, Any]],
             actor: str) -> Outcome:
        from secpipe.notify.channels import deliver
        from secpipe.notify.message import Message, clean, highest, item_from_asff

        rule = self.rules().get(target["Id"])
        if rule is None:
            where = str(self.config_file) if self.config_file else "no secpipe.yml (start " \
                "the hub with --config FILE)"
            raise ResourceNotFound(f"custom action {target['Id']}: no notification rule named "
                                   f"{target['Id']!r} in {where}")
        items = [item_from_asff(f) for f in findings]
        top = highest(items)
        first = items[0].title if len(items) == 1 else f"{len(items)} findings"
        subject = clean(f"[secpipe] {target['Name']}: {first}", 200)
        message = Message(rule.name, EVENT, subject, top,
                          {"action": clean(target["Name"], 64), "actor": clean(actor, 160)},
                          [(f"Sent by {clean(actor, 160)} with the custom action "
                            f"{clean(target['Name'], 64)} ({target['Arn']})", items)],
                          [dict(f) for f in findings],
                          note=clean("Finding Ids: " + ", ".join(i.id for i in items), 2000))
        results = [deliver(ch, message, attempts=self.attempts, base_delay=self.base_delay)
                   for ch in rule.channels]
        return Outcome(rule.name, subject, [{"Channel": r.channel, "Ok": r.ok,
                                             "Attempts": r.attempts, "Error": r.error}
                                            for r in results])


def install(app: Any, config_file: Path | str | None, **kwargs: Any) -> ActionSender:
    """Give an app (the hub's ASGI app) the secpipe.yml its custom actions send through."""
    sender = ActionSender(Path(config_file) if config_file else None, **kwargs)
    setattr(app.state, STATE_KEY, sender)
    return sender


def sender_of(app: Any) -> ActionSender:
    """The app's sender (`install`), else one over $SECPIPE_HUB_CONFIG, else over
    ./secpipe.yml when it exists (looked up on every call, never cached)."""
    found = getattr(app.state, STATE_KEY, None)
    if isinstance(found, ActionSender):
        return found
    named = os.environ.get(ENV_CONFIG)
    default = Path.cwd() / "secpipe.yml"
    return ActionSender(Path(named) if named else default if default.is_file() else None)
