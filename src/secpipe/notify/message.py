"""What a notification says, built once and rendered per channel.

Everything a message shows comes from the findings' ASFF form, which already holds secrets
only as their masked form (`secpipe/SecretMasked`): nothing here ever sees a clear value, and
nothing here adds a field the ASFF does not have. Pipeline findings and runtime alerts go
through the same `Item`, so an e-mail about a Falco alert reads like one about a Checkov check.

Every text that came from a scanner or an alert is treated as hostile: control and format
characters (bidi overrides included) are removed, lines are folded, lengths are capped, and
each channel escapes for its own syntax (Slack's `<`, `>`, `&`). E-mail is text/plain only,
so there is no HTML part to inject into.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from secpipe.model import Severity
from secpipe.notify.config import PRIORITIES

MAX_ITEMS = 50          # listed per message; the rest is counted ("and 12 more")
SCHEMA = "secpipe.notification/1"
_WS = re.compile(r"\s+")


def clean(value: Any, limit: int = 300) -> str:
    """One line of untrusted text, safe for any channel: no control/format characters,
    whitespace folded, at most `limit` characters."""
    text = "" if value is None else str(value)
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
                   for ch in text if unicodedata.category(ch) not in ("Cf", "Cs", "Co"))
    text = _WS.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_escape(text: str) -> str:
    """Slack's three control characters; without this `<!channel>` in a title pings everyone
    and `<http://evil|docs>` becomes a disguised link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Item:
    """One finding or alert as a notification shows it."""

    id: str
    severity: Severity
    title: str
    tool: str = ""
    rule_id: str = ""
    source: str = ""        # the stage, or `runtime`
    where: str = ""         # path:line, or the resource
    priority: str = ""      # Falco priority, lower-case ('' when not an alert)
    secret: str = ""        # masked form only
    count: str = ""
    detail: str = ""        # runtime alerts: Falco's output line
    run_id: str = ""
    commit: str = ""

    def line(self) -> str:
        parts = [f"[{self.severity.name}]", self.title]
        if self.priority:
            parts.append(f"(priority {self.priority})")
        meta = [p for p in (f"{self.tool}/{self.rule_id}" if self.tool else self.rule_id,
                            f"at {self.where}" if self.where else "",
                            f"secret {self.secret}" if self.secret else "",
                            f"seen {self.count}x" if self.count not in ("", "1") else "",
                            f"run {self.run_id}" if self.run_id else "",
                            f"commit {self.commit[:12]}" if self.commit else "") if p]
        return " ".join(parts) + ("\n    " + "; ".join(meta) if meta else "") + \
            (f"\n    {self.detail}" if self.detail else "")

    def as_json(self) -> dict[str, Any]:
        out = {"id": self.id, "severity": self.severity.name, "title": self.title,
               "tool": self.tool, "rule_id": self.rule_id, "source": self.source,
               "where": self.where, "priority": self.priority, "secret_masked": self.secret,
               "count": self.count, "detail": self.detail, "run_id": self.run_id,
               "commit": self.commit}
        return {k: v for k, v in out.items() if v}


def item_from_asff(obj: Mapping[str, Any], source: str = "") -> Item:
    """An ASFF finding (ours or a runtime alert's) as an Item; tolerant of missing fields."""
    pf = obj.get("ProductFields") if isinstance(obj.get("ProductFields"), Mapping) else {}
    sev = obj.get("Severity") if isinstance(obj.get("Severity"), Mapping) else {}
    severity = Severity.parse(str(sev.get("Label") or ""), Severity.INFORMATIONAL)
    tool = str(pf.get("secpipe/Tool") or str(obj.get("GeneratorId") or "").split("/")[0])
    runtime = tool == "falco" or source == "runtime"
    # A Falco priority only means one for alerts (other tools' "Priority" words overlap).
    priority = ""
    for word in (pf.get("secpipe/Priority"), sev.get("Original")):
        if runtime and str(word or "").strip().lower() in PRIORITIES:
            priority = str(word).strip().lower()
            break
    path, line = pf.get("secpipe/Path"), pf.get("secpipe/StartLine")
    where = f"{path}:{line}" if path and line else str(path or "")
    if not where:
        where = _resource_where(obj)
    stage = str(pf.get("secpipe/Stage") or "")
    return Item(
        id=clean(obj.get("Id"), 512),
        severity=severity,
        title=clean(obj.get("Title") or pf.get("secpipe/RuleId") or "finding", 200),
        tool=clean(tool, 64),
        rule_id=clean(pf.get("secpipe/RuleId"), 128),
        source=clean(source or stage, 64),
        where=clean(where, 300),
        priority=priority,
        secret=clean(pf.get("secpipe/SecretMasked"), 80),
        count=clean(pf.get("secpipe/Count"), 12),
        detail=clean(obj.get("Description"), 400) if runtime else "",
        # For an alert, the run that built/deployed its image (the intake's correlation); a
        # pipeline finding's run is the message's own.
        run_id=clean(pf.get("secpipe/RunId"), 64) if runtime else "",
        commit=clean(pf.get("secpipe/Commit"), 64) if runtime else "",
    )


def _resource_where(obj: Mapping[str, Any]) -> str:
    resources = obj.get("Resources")
    if not isinstance(resources, list) or not resources or not isinstance(resources[0], Mapping):
        return ""
    res = resources[0]
    details = ((res.get("Details") or {}).get("Other") or {}) if isinstance(
        res.get("Details"), Mapping) else {}
    extra = [f"{k}={details[k]}" for k in ("Image", "KubernetesNamespace", "KubernetesPod",
                                            "ContainerName", "Hostname")
             if isinstance(details, Mapping) and details.get(k)]
    base = f"{res.get('Type', 'Other')} {res.get('Id', '')}".strip()
    return base + (f" ({', '.join(extra)})" if extra else "")


@dataclass
class Message:
    """One notification: the same content for every channel of a rule."""

    rule: str
    event: str
    subject: str
    severity: Severity
    context: dict[str, str]                       # run_id, repo, branch, commit, report, ...
    sections: list[tuple[str, list[Item]]]
    findings: list[dict[str, Any]] = field(default_factory=list)   # ASFF, for the webhook
    note: str = ""

    @property
    def items(self) -> list[Item]:
        return [i for _, items in self.sections for i in items]

    def text(self) -> str:
        """The plain-text body (e-mail, SNS)."""
        lines = [self.subject, ""]
        labels = (("repo", "Repository"), ("branch", "Branch"), ("commit", "Commit"),
                  ("run_id", "Run"), ("verdict", "Verdict"), ("report", "Report"))
        lines += [f"{label}: {self.context[key]}" for key, label in labels
                  if self.context.get(key)]
        if self.note:
            lines += ["", self.note]
        for heading, items in self.sections:
            lines += ["", heading]
            shown = items[:MAX_ITEMS]
            lines += [f"  - {it.line()}" for it in shown]
            if len(items) > len(shown):
                lines.append(f"  ... and {len(items) - len(shown)} more (see the report)")
        lines += ["", f"-- secpipe notification rule {self.rule!r} ({self.event})"]
        return "\n".join(lines) + "\n"

    def slack(self) -> dict[str, Any]:
        """`{text, blocks}` for Slack-compatible incoming webhooks (Block Kit limits kept:
        header 150 chars, section text 3000, at most 50 blocks)."""
        ctx = [f"*{k}:* {slack_escape(self.context[k])}" for k in
               ("repo", "branch", "commit", "run_id", "report") if self.context.get(k)]
        blocks: list[dict[str, Any]] = [
            # escaped here too: Slack-compatible servers (Mattermost) render everything as
            # markdown, and the three entities are what Slack documents for every text field
            {"type": "header", "text": {"type": "plain_text",
                                        "text": _cut(slack_escape(self.subject), 150)}},
        ]
        if ctx:
            blocks.append({"type": "context",
                           "elements": [{"type": "mrkdwn", "text": c[:300]} for c in ctx[:10]]})
        if self.note:
            blocks.append(_section(f"_{slack_escape(self.note)}_"))
        for heading, items in self.sections:
            body = [f"*{slack_escape(heading)}*"]
            for it in items[:MAX_ITEMS]:
                body.append("• " + slack_escape(it.line()).replace("\n    ", "\n      "))
            if len(items) > MAX_ITEMS:
                body.append(f"… and {len(items) - MAX_ITEMS} more (see the report)")
            text = "\n".join(body)
            while text and len(blocks) < 49:
                part = _cut(text, 3000)
                blocks.append(_section(part))
                text = text[len(part):]
        return {"text": slack_escape(self.subject), "blocks": blocks}

    def payload(self, *, with_findings: bool = True) -> dict[str, Any]:
        """The generic JSON (webhook, CloudWatch Logs)."""
        out: dict[str, Any] = {
            "schema": SCHEMA, "event": self.event, "rule": self.rule,
            "subject": self.subject, "severity": self.severity.name,
            "run": dict(self.context),
            "sections": [{"title": h, "items": [i.as_json() for i in items]}
                         for h, items in self.sections],
        }
        if self.note:
            out["note"] = self.note
        if with_findings:
            out["findings"] = self.findings
        return out


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters, never ending inside an `&amp;`-style entity."""
    if len(text) <= limit:
        return text
    part = text[:limit]
    amp = part.rfind("&")
    return part[:amp] if amp > limit - 6 and ";" not in part[amp:] else part


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def highest(items: Sequence[Item]) -> Severity:
    return max((i.severity for i in items), default=Severity.INFORMATIONAL)


def where_label(context: Mapping[str, str]) -> str:
    repo, branch = context.get("repo", ""), context.get("branch", "")
    return clean(f"{repo}@{branch}" if repo and branch else repo or branch or "local", 120)
