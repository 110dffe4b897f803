"""Which events become which messages, through which rules, and what came of sending them.

Events:
- `gate_failed`: an enforced stage in the rule's `sources` FAILED its gate. One message per run
  and rule, a section per failed stage listing its blocking findings. The rule's thresholds do
  not filter it (the stage's `fail_on` already decided); its dedup key is the set of blocking
  findings on the branch, so re-running the same failing state within `dedup_window` is quiet,
  while a different set of blocking findings notifies again.
- `new_critical`: CRITICAL findings new against the stage's baseline (`is_new`; a stage with no
  baseline counts everything as new, as the gate does), not suppressed.
- `new_finding`: the same for every new finding passing the rule's thresholds, minus what the
  rule's `new_critical` message already listed.
- `runtime_alert`: findings handed to `notify_findings` (Falco alerts from the intake) passing
  the thresholds; one message per call listing the alerts not notified within the window.

Dedup is per rule and finding (ASFF Id). A rule's rate limit counts its messages; a message over
the limit is held back without claiming its findings, so they go out with the next message
allowed, which also says how many were held back.

A channel that keeps failing is retried with backoff, then reported (log warning, the returned
`Delivery` list, `notifications.json` in the run dir). It never changes the run's verdict or
exit code: the notification is about the result, and losing the result to a mail server's
outage would be the worse failure.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import quote

from secpipe.model import Severity
from secpipe.notify.channels import Result, deliver
from secpipe.notify.config import PRIORITIES, RUNTIME, NotificationRule
from secpipe.notify.message import Item, Message, clean, highest, item_from_asff, where_label
from secpipe.notify.state import NotifyState, default_state_path

log = logging.getLogger("secpipe.notify")
OUTCOME_FILE = "notifications.json"


@dataclass
class Delivery:
    """What one rule did with one event."""

    rule: str
    event: str
    status: str          # sent | partial | failed | rate_limited | deduplicated | error
    subject: str = ""
    items: int = 0
    channels: list[Result] = field(default_factory=list)
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "event": self.event, "status": self.status,
                "subject": self.subject, "items": self.items, "error": self.error,
                "channels": [{"channel": c.channel, "ok": c.ok, "attempts": c.attempts,
                              "error": c.error} for c in self.channels]}


def passes(rule: NotificationRule, item: Item) -> bool:
    """The rule's thresholds: both must hold when both are set. A priority threshold on a
    finding without a Falco priority compares severities (Falco's own mapping)."""
    if rule.min_severity is not None and item.severity < rule.min_severity:
        return False
    if rule.min_priority is not None:
        rank, as_severity = PRIORITIES[rule.min_priority]
        if item.priority:
            return PRIORITIES[item.priority][0] >= rank
        return item.severity >= as_severity
    return True


class Notifier:
    def __init__(self, rules: Sequence[NotificationRule], *, state: str | Path | None = None,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, attempts: int = 3,
                 base_delay: float = 0.5) -> None:
        self.rules = list(rules)
        self.state = NotifyState(state if state is not None else default_state_path())
        self.clock = clock
        self.sleep = sleep
        self.attempts = attempts
        self.base_delay = base_delay

    # -- pipeline runs ------------------------------------------------------------------------

    def notify_run(self, run: Any) -> list[Delivery]:
        """Notify about a finished pipeline run (a `RunResult`)."""
        from secpipe.outputs._common import Origins
        from secpipe.outputs.asff import gated_to_asff
        from secpipe.pipeline.result import StageStatus

        if run.interrupted:
            return []
        origins = Origins(run)
        per_stage: dict[str, list[tuple[Any, dict, Item]]] = {}
        for stage in run.stages:
            rows = per_stage.setdefault(stage.name, [])
            for g in stage.findings:
                obj = gated_to_asff(run, stage, g, origins=origins)
                rows.append((g, obj, item_from_asff(obj, stage.name)))
        ctx = run.context
        base = {"repo": ctx.repo, "branch": ctx.branch, "commit": ctx.commit,
                "run_id": run.run_id, "verdict": run.verdict}
        failed = [s for s in run.stages if s.status is StageStatus.FAILED]
        out: list[Delivery] = []
        for rule in self.rules:
            context = {**base, "report": self._report(rule, run, base)}
            try:
                if "gate_failed" in rule.events:
                    out += self._gate(rule, [s for s in failed if rule.wants_source(s.name)],
                                      per_stage, context)
                listed: set[str] = set()
                for event in ("new_critical", "new_finding"):
                    if event in rule.events:
                        out += self._new(rule, event, per_stage, context, listed)
            except Exception as exc:  # noqa: BLE001 - one rule's trouble must not stop the rest
                out.append(self._broken(rule, "run", exc))
        return out

    def _gate(self, rule: NotificationRule, stages: list, per_stage: dict,
              context: dict[str, str]) -> list[Delivery]:
        if not stages:
            return []
        sections, findings, ids = [], [], []
        for stage in stages:
            rows = [(obj, item) for g, obj, item in per_stage[stage.name] if g.blocking]
            sections.append((f"Stage {stage.name}: FAILED (fail_on {stage.fail_on.name}, "
                             f"{len(rows)} blocking)", [item for _, item in rows]))
            findings += [obj for obj, _ in rows]
            ids += [f"{stage.name}:{item.id}" for _, item in rows]
        digest = hashlib.sha256("\x1f".join(
            [context["repo"], context["branch"], *sorted(ids)]).encode()).hexdigest()[:32]
        total = sum(len(items) for _, items in sections)
        subject = (f"[secpipe] gate FAILED: {where_label(context)} ({total} blocking in "
                   f"{', '.join(s.name for s in stages)})")

        def build(_fresh: set[str]) -> Message:
            items = [i for _, its in sections for i in its]
            return Message(rule.name, "gate_failed", clean(subject, 200), highest(items),
                           context, sections, findings)
        return [self._emit(rule, "gate_failed", [f"gate:{digest}"], build)]

    def _new(self, rule: NotificationRule, event: str, per_stage: dict,
             context: dict[str, str], listed: set[str]) -> list[Delivery]:
        chosen: list[tuple[str, dict, Item]] = []
        for stage_name, rows in per_stage.items():
            if not rule.wants_source(stage_name):
                continue
            for g, obj, item in rows:
                if g.suppressed_by is not None or g.is_new is False or item.id in listed:
                    continue
                if event == "new_critical" and item.severity < Severity.CRITICAL:
                    continue
                if passes(rule, item):
                    chosen.append((stage_name, obj, item))
        if not chosen:
            return []
        listed.update(item.id for _, _, item in chosen)
        word = "CRITICAL finding" if event == "new_critical" else "finding"

        def build(fresh: set[str]) -> Message:
            rows = [r for r in chosen if r[2].id in fresh]
            items = [r[2] for r in rows]
            n = len(items)
            subject = f"[secpipe] {n} new {word}{'s' if n != 1 else ''} in {where_label(context)}"
            if event == "new_finding":
                subject += f", highest {highest(items).name}"
            sections: dict[str, list[Item]] = {}
            for stage_name, _, item in rows:
                sections.setdefault(f"New in stage {stage_name}", []).append(item)
            return Message(rule.name, event, clean(subject, 200), highest(items), context,
                           list(sections.items()), [r[1] for r in rows])
        return [self._emit(rule, event, [item.id for _, _, item in chosen], build)]

    # -- runtime alerts -----------------------------------------------------------------------

    def notify_findings(self, findings_asff: Iterable[Mapping[str, Any]],
                        source: str = RUNTIME, *, context: Mapping[str, str] | None = None
                        ) -> list[Delivery]:
        """Notify about findings arriving outside a pipeline run (Falco alerts from the hub's
        intake: `source="runtime"`, event `runtime_alert`). Other sources are treated as
        `new_finding` of that source. `context` may add `report` (a link) or `host`."""
        event = "runtime_alert" if source == RUNTIME else "new_finding"
        objs = [dict(o) for o in findings_asff if isinstance(o, Mapping)]
        items = [item_from_asff(o, source) for o in objs]
        out: list[Delivery] = []
        for rule in self.rules:
            if event not in rule.events or not rule.wants_source(source):
                continue
            try:
                chosen = [(o, i) for o, i in zip(objs, items) if passes(rule, i)]
                if chosen:
                    out.append(self._runtime(rule, event, source, chosen, dict(context or {})))
            except Exception as exc:  # noqa: BLE001
                out.append(self._broken(rule, event, exc))
        return out

    def _runtime(self, rule: NotificationRule, event: str, source: str,
                 chosen: list[tuple[dict, Item]], context: dict[str, str]) -> Delivery:
        def build(fresh: set[str]) -> Message:
            rows = [(o, i) for o, i in chosen if i.id in fresh]
            items = [i for _, i in rows]
            top = highest(items)
            if len(items) == 1:
                it = items[0]
                subject = f"[secpipe] {source} {top.name}: {it.title}" + \
                    (f" ({it.where})" if it.where else "")
            else:
                subject = f"[secpipe] {len(items)} {source} alerts, highest {top.name}"
            heading = "Runtime alerts" if source == RUNTIME else f"New findings from {source}"
            return Message(rule.name, event, clean(subject, 200), top, context,
                           [(heading, items)], [o for o, _ in rows])
        return self._emit(rule, event, [i.id for _, i in chosen], build)

    # -- common -------------------------------------------------------------------------------

    def _emit(self, rule: NotificationRule, event: str, keys: list[str],
              build: Callable[[set[str]], Message]) -> Delivery:
        limit = rule.rate_limit
        claim = self.state.reserve(rule.name, keys, now=self.clock(),
                                   dedup_window=rule.dedup_window,
                                   rate_max=limit.max if limit else None,
                                   rate_window=limit.window if limit else 3600)
        if not claim.fresh:
            return Delivery(rule.name, event, "deduplicated")
        if not claim.allowed:
            log.info("notification rule %r: %s held back by its rate limit", rule.name, event)
            return Delivery(rule.name, event, "rate_limited", items=len(claim.fresh))
        try:
            message = build(set(claim.fresh))
            if claim.held:
                since = datetime.fromtimestamp(claim.held_since or 0, timezone.utc)
                message.note = (f"{claim.held} earlier message(s) of this rule were held back "
                                f"by its rate limit since {since:%Y-%m-%d %H:%M} UTC.")
            results = [deliver(ch, message, attempts=self.attempts, base_delay=self.base_delay,
                               sleep=self.sleep) for ch in rule.channels]
        except BaseException:
            self.state.release(claim)
            raise
        ok = [r for r in results if r.ok]
        if not ok:
            self.state.release(claim)   # nothing went out: the next event tries again
        for r in results:
            if not r.ok:
                log.warning("notification rule %r (%s) via %s failed after %d attempt(s): %s "
                            "(the run's result and exit code are unchanged)",
                            rule.name, event, r.channel, r.attempts, r.error)
        status = "sent" if len(ok) == len(results) else "partial" if ok else "failed"
        return Delivery(rule.name, event, status, message.subject, len(message.items), results)

    @staticmethod
    def _broken(rule: NotificationRule, event: str, exc: Exception) -> Delivery:
        error = clean(f"{type(exc).__name__}: {exc}", 500)
        log.warning("notification rule %r (%s) could not run: %s", rule.name, event, error)
        return Delivery(rule.name, event, "error", error=error)

    @staticmethod
    def _report(rule: NotificationRule, run: Any, base: Mapping[str, str]) -> str:
        if rule.report_url:
            url = rule.report_url
            for key in ("run_id", "repo", "branch", "commit"):
                url = url.replace("{" + key + "}", quote(base.get(key, ""), safe="/"))
            return url
        return str(Path(run.run_dir) / "report.html")


def write_outcomes(deliveries: Sequence[Delivery], run_dir: Path) -> Path | None:
    """`notifications.json` in the run dir: what each rule did (read it when a mail is missing)."""
    import json

    path = Path(run_dir) / OUTCOME_FILE
    try:
        path.write_text(json.dumps([d.as_json() for d in deliveries], indent=2) + "\n",
                        encoding="utf-8")
    except OSError:
        return None
    return path
