"""Which events become messages: thresholds, sources, dedup window and rate limit (counted at a
real HTTP receiver), runtime alerts, and hostile text in findings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from secpipe.model import Severity
from secpipe.notify.config import NotificationRule
from secpipe.notify.dispatcher import Notifier

from .conftest import (
    HttpSink, SmtpSink, falco_asff, finding, free_port, run_result, stage,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _rule(url: str, **kw: Any) -> NotificationRule:
    return NotificationRule.model_validate({"name": kw.pop("name", "r"),
                                            "channels": [{"type": "webhook", "url": url}], **kw})


def _notifier(tmp_path: Path, *rules: NotificationRule, clock: Clock | None = None) -> Notifier:
    return Notifier(rules, state=tmp_path / "notify.db", clock=clock or Clock(),
                    sleep=lambda s: None)


def _alerts(n: int, **kw: Any) -> list[dict]:
    return [falco_asff(container=f"c{i:04d}", **kw) for i in range(n)]


def test_runtime_dedup_window(tmp_path: Path, http_sink: HttpSink) -> None:
    clock = Clock()
    notifier = _notifier(tmp_path, _rule(http_sink.url, dedup_window=600), clock=clock)
    alert = falco_asff()
    for _ in range(20):                       # a flood of the same alert: one message
        notifier.notify_findings([alert])
        clock.now += 10
    assert len(http_sink.requests) == 1
    clock.now += 600                          # window over: notified again, once
    for _ in range(5):
        notifier.notify_findings([alert])
    assert len(http_sink.requests) == 2
    notifier.notify_findings([falco_asff(container="other")])   # a different alert: at once
    assert len(http_sink.requests) == 3


def test_dedup_state_survives_a_new_notifier(tmp_path: Path, http_sink: HttpSink) -> None:
    rule = _rule(http_sink.url)
    _notifier(tmp_path, rule).notify_findings([falco_asff()])
    [d] = _notifier(tmp_path, rule).notify_findings([falco_asff()])   # same state file
    assert d.status == "deduplicated" and len(http_sink.requests) == 1


def test_rate_limit_then_held_note(tmp_path: Path, http_sink: HttpSink) -> None:
    clock = Clock()
    rule = _rule(http_sink.url, rate_limit={"max": 3, "window": 3600}, dedup_window=86400)
    notifier = _notifier(tmp_path, rule, clock=clock)
    statuses = []
    for alert in _alerts(10):                 # 10 distinct alerts, one call each
        [d] = notifier.notify_findings([alert])
        statuses.append(d.status)
        clock.now += 60
    assert statuses == ["sent"] * 3 + ["rate_limited"] * 7
    assert len(http_sink.requests) == 3
    clock.now += 3600                         # window passed: the held alerts were not lost
    [d] = notifier.notify_findings(_alerts(10))
    assert d.status == "sent" and d.items == 7
    body = http_sink.json(3)
    assert body["note"].startswith("7 earlier message(s) of this rule were held back")
    assert len(body["sections"][0]["items"]) == 7


def test_failed_send_is_retried_by_the_next_event(tmp_path: Path, http_sink: HttpSink) -> None:
    dead = NotificationRule.model_validate({"name": "r", "channels": [
        {"type": "webhook", "url": f"http://127.0.0.1:{free_port()}/"}],
        "rate_limit": {"max": 1}})
    [d] = _notifier(tmp_path, dead).notify_findings([falco_asff()])
    assert d.status == "failed"
    # nothing went out: neither the dedup key nor the rate-limit slot was used up
    [d] = _notifier(tmp_path, _rule(http_sink.url, rate_limit={"max": 1})).notify_findings(
        [falco_asff()])
    assert d.status == "sent" and len(http_sink.requests) == 1


def test_priority_and_severity_thresholds(tmp_path: Path, http_sink: HttpSink) -> None:
    notifier = _notifier(tmp_path, _rule(http_sink.url, name="prio", min_priority="error"),
                         _rule(http_sink.url, name="sev", min_severity="critical"))
    notifier.notify_findings([falco_asff("A", "Warning", "MEDIUM"),
                              falco_asff("B", "Error", "HIGH"),
                              falco_asff("C", "Critical", "CRITICAL"),
                              falco_asff("D", "Emergency", "CRITICAL")])
    by_rule = {(body := json.loads(r["body"]))["rule"]: body for r in http_sink.requests}
    titles = {k: sorted(i["title"] for i in v["sections"][0]["items"]) for k, v in by_rule.items()}
    assert titles == {"prio": ["B", "C", "D"], "sev": ["C", "D"]}
    assert by_rule["prio"]["subject"] == "[secpipe] 3 runtime alerts, highest CRITICAL"


def test_sources_and_events_filter(tmp_path: Path, http_sink: HttpSink) -> None:
    notifier = _notifier(tmp_path, _rule(http_sink.url, name="iac-only", sources=["iac"]),
                         _rule(http_sink.url, name="no-runtime", events=["gate_failed"]))
    assert notifier.notify_findings([falco_asff()]) == []
    run = run_result(stage("iac", [finding("CKV_1", Severity.HIGH)]),
                     stage("secrets", [finding("k", Severity.HIGH, tool="gitleaks")]))
    deliveries = notifier.notify_run(run)
    assert sorted((d.rule, d.event, d.status) for d in deliveries) == [
        ("iac-only", "gate_failed", "sent"), ("no-runtime", "gate_failed", "sent")]
    iac_only = next(json.loads(r["body"]) for r in http_sink.requests
                    if json.loads(r["body"])["rule"] == "iac-only")
    assert [s["title"] for s in iac_only["sections"]] == ["Stage iac: FAILED (fail_on HIGH, "
                                                          "1 blocking)"]


def test_new_critical_and_new_finding(tmp_path: Path, http_sink: HttpSink) -> None:
    rule = _rule(http_sink.url, events=["new_critical", "new_finding"], min_severity="medium")
    notifier = _notifier(tmp_path, rule)
    old_crit = finding("OLD", Severity.CRITICAL, "old.tf")
    run = run_result(
        stage("iac", [finding("C1", Severity.CRITICAL), finding("M1", Severity.MEDIUM),
                      finding("L1", Severity.LOW)], fail_on=Severity.CRITICAL, new=True),
        stage("iac2", [old_crit], new=False))
    deliveries = notifier.notify_run(run)
    assert [(d.event, d.items) for d in deliveries] == [("new_critical", 1), ("new_finding", 1)]
    crit, rest = http_sink.json(0), http_sink.json(1)
    assert crit["subject"] == "[secpipe] 1 new CRITICAL finding in acme/web@main"
    assert [i["rule_id"] for i in crit["sections"][0]["items"]] == ["C1"]
    assert [i["rule_id"] for i in rest["sections"][0]["items"]] == ["M1"]   # C1 not twice
    # the same run again: every finding was notified within the window
    assert {d.status for d in notifier.notify_run(run)} == {"deduplicated"}
    assert len(http_sink.requests) == 2


def test_gate_dedup_follows_the_blocking_set(tmp_path: Path, http_sink: HttpSink) -> None:
    notifier = _notifier(tmp_path, _rule(http_sink.url, events=["gate_failed"]))
    one = stage("iac", [finding("CKV_1", Severity.HIGH)])
    notifier.notify_run(run_result(one, run_id="r1"))
    notifier.notify_run(run_result(one, run_id="r2"))          # same failure: quiet
    notifier.notify_run(run_result(stage("iac", [finding("CKV_1", Severity.HIGH),
                                                 finding("CKV_2", Severity.HIGH)]), run_id="r3"))
    assert [http_sink.json(i)["run"]["run_id"] for i in range(len(http_sink.requests))] == \
        ["r1", "r3"]


def test_passing_and_interrupted_runs_send_nothing(tmp_path: Path, http_sink: HttpSink) -> None:
    notifier = _notifier(tmp_path, _rule(http_sink.url))
    assert notifier.notify_run(run_result(stage("iac", [finding("x", Severity.LOW)]))) == []
    run = run_result(stage("iac", [finding("x", Severity.CRITICAL)], new=True))
    run.interrupted = True
    assert notifier.notify_run(run) == [] and http_sink.requests == []


HOSTILE = ("<script>alert(1)</script> <!channel> <http://evil.example|docs> &amp;"
           "\u202egnp.exe\r\nBcc: victim@example.com\x00\x1b[31m")


def test_hostile_text_is_neutralised(tmp_path: Path, http_sink: HttpSink,
                                     smtp_sink: SmtpSink) -> None:
    rule = NotificationRule.model_validate({"name": "r", "channels": [
        {"type": "slack", "url": http_sink.url},
        {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port, "starttls": False,
         "from": "a@ci.example", "to": ["b@ci.example"]}]})
    alert = falco_asff(rule=HOSTILE, output="cmd=sh -c " + HOSTILE)
    [d] = _notifier(tmp_path, rule).notify_findings([alert])
    assert d.status == "sent", d
    slack = http_sink.requests[0]["body"].decode()
    assert "<script>" not in slack and "<!channel>" not in slack and "<http://" not in slack
    assert "&lt;!channel&gt;" in slack and "&amp;amp;" in slack
    assert "\\u202e" not in slack.lower() and "\u202e" not in slack and "\\r" not in slack
    _, rcpts, msg = smtp_sink.messages[0]
    assert rcpts == ["b@ci.example"] and msg["Bcc"] is None      # no header injection
    assert "\n" not in msg["Subject"] and "\x1b" not in msg.as_string()
    assert msg.get_content_type() == "text/plain" and "\u202e" not in msg.get_content()


def test_runtime_alert_mentions_correlated_run(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    rule = NotificationRule.model_validate({"name": "ops", "min_priority": "warning",
                                            "sources": ["runtime"], "channels": [
        {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port, "starttls": False,
         "from": "falco@ci.example", "to": ["ops@ci.example"]}]})
    alert = falco_asff(run_id="20260101T000000Z-abcdef",
                       output="Shell spawned in web (user=root cmd=sh -c id)")
    _notifier(tmp_path, rule).notify_findings([alert], context={"report": "http://hub/f/1"})
    msg = smtp_sink.messages[0][2]
    assert msg["Subject"] == ("[secpipe] runtime MEDIUM: Terminal shell in container (Container "
                              "abc123def456 (Image=acme/web:1.2, KubernetesPod=web-1))")
    body = msg.get_content()
    assert "(priority warning)" in body and "run 20260101T000000Z-abcdef" in body
    assert "commit feedfacecafe" in body and "Report: http://hub/f/1" in body
    assert "Shell spawned in web (user=root cmd=sh -c id)" in body


@pytest.mark.parametrize("bad", [{"url": "https://x", "url_env": "X"}, {}])
def test_url_or_url_env(bad: dict) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exactly one of url, url_env"):
        NotificationRule.model_validate({"name": "r", "channels": [{"type": "slack", **bad}]})
