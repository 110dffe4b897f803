"""Every channel against a real receiver: e-mail into aiosmtpd, Slack-compatible and generic
webhooks into a stdlib HTTP server, SNS (read back through a subscribed SQS queue) and
CloudWatch Logs (read back with GetLogEvents) on moto's server."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from secpipe.model import Severity
from secpipe.notify.channels import deliver, signature
from secpipe.notify.config import NotificationRule
from secpipe.notify.dispatcher import Notifier

from .conftest import (
    CLEAR_SECRET, HttpSink, SmtpSink, boto, finding, free_port, run_result, stage,
)


def _rule(*channels: dict[str, Any], **kw: Any) -> NotificationRule:
    return NotificationRule.model_validate({"name": kw.pop("name", "team"),
                                            "channels": list(channels), **kw})


def _failed_run():
    return run_result(stage("iac", [finding("CKV_AWS_1", Severity.HIGH),
                                    finding("CKV_AWS_2", Severity.LOW)]),
                      stage("secrets", [finding("aws-key", Severity.CRITICAL, "app/config.py",
                                                12, tool="gitleaks", secret=CLEAR_SECRET)],
                            new=True))


def _notifier(tmp_path: Path, *rules: NotificationRule, **kw: Any) -> Notifier:
    return Notifier(rules, state=tmp_path / "notify.db", sleep=lambda s: None, **kw)


def test_smtp_gate_failed_mail(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    rule = _rule({"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port,
                  "starttls": False, "from": "secpipe@ci.example", "to": ["sec@example.com",
                                                                          "dev@example.com"]},
                 events=["gate_failed"], report_url="https://ci.example/runs/{run_id}/report.html")
    deliveries = _notifier(tmp_path, rule).notify_run(_failed_run())
    assert [d.status for d in deliveries] == ["sent"]
    assert len(smtp_sink.messages) == 1
    mail_from, rcpts, msg = smtp_sink.messages[0]
    assert mail_from == "secpipe@ci.example"
    assert sorted(rcpts) == ["dev@example.com", "sec@example.com"]
    assert msg["Subject"] == ("[secpipe] gate FAILED: acme/web@main (2 blocking in iac, secrets)")
    assert msg["X-Secpipe-Event"] == "gate_failed" and msg["X-Secpipe-Severity"] == "CRITICAL"
    assert msg.get_content_type() == "text/plain" and not msg.is_multipart()
    body = msg.get_content()
    assert "Stage iac: FAILED (fail_on HIGH, 1 blocking)" in body
    assert "CKV_AWS_1" in body and "CKV_AWS_2" not in body      # only blocking findings
    assert "at main.tf:3" in body and "at app/config.py:12" in body
    assert "Commit: 0123456789abcdef0123" in body and "Run: 20260101T000000Z-abcdef" in body
    assert "https://ci.example/runs/20260101T000000Z-abcdef/report.html" in body
    assert "secret AKIA…MPLE" in body                         # the masked form, only
    raw = msg.as_bytes()
    assert CLEAR_SECRET.encode() not in raw and b"IOSFODNN7" not in raw


def test_smtp_refuses_to_skip_starttls(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    # aiosmtpd offers no STARTTLS here: a channel that asks for it must not fall back to clear.
    ch = _rule({"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port,
                "from": "a@b.example", "to": ["c@d.example"]}).channels[0]
    rule = _rule(ch.model_dump(by_alias=True), events=["gate_failed"])
    deliveries = _notifier(tmp_path, rule).notify_run(_failed_run())
    [result] = deliveries[0].channels
    assert not result.ok and result.attempts == 1 and "STARTTLS" in result.error
    assert smtp_sink.messages == []


def test_slack_payload_shape(tmp_path: Path, http_sink: HttpSink) -> None:
    rule = _rule({"type": "slack", "url": http_sink.url + "/services/T0/B0/XXXX"},
                 events=["gate_failed", "new_critical"])
    _notifier(tmp_path, rule).notify_run(_failed_run())
    assert [r["path"] for r in http_sink.requests] == ["/services/T0/B0/XXXX"] * 2
    gate, crit = http_sink.json(0), http_sink.json(1)
    assert gate["text"].startswith("[secpipe] gate FAILED")
    assert gate["blocks"][0] == {"type": "header", "text": {"type": "plain_text",
                                                            "text": gate["text"]}}
    assert all(b["type"] in ("header", "context", "section") for b in gate["blocks"])
    assert crit["text"] == "[secpipe] 1 new CRITICAL finding in acme/web@main"
    assert "AKIA…MPLE" in json.dumps(crit, ensure_ascii=False)
    assert http_sink.requests[0]["headers"]["Content-Type"] == "application/json"


def test_webhook_json_and_hmac(tmp_path: Path, http_sink: HttpSink,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cr3t-for-hmac")
    monkeypatch.setenv("HOOK_URL", http_sink.url + "/hook")
    rule = _rule({"type": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
                 events=["new_critical"])
    [d] = _notifier(tmp_path, rule).notify_run(_failed_run())
    assert d.status == "sent" and d.channels[0].channel == "webhook:$HOOK_URL"
    req = http_sink.requests[0]
    expected = "sha256=" + hmac.new(b"s3cr3t-for-hmac", req["body"], hashlib.sha256).hexdigest()
    assert req["headers"]["X-Secpipe-Signature-256"] == expected == \
        signature("s3cr3t-for-hmac", req["body"])
    body = http_sink.json()
    assert body["schema"] == "secpipe.notification/1" and body["event"] == "new_critical"
    assert body["run"]["commit"] == "0123456789abcdef0123" and body["severity"] == "CRITICAL"
    [section] = body["sections"]
    assert section["items"][0]["secret_masked"] == "AKIA…MPLE"
    [asff] = body["findings"]
    assert asff["ProductFields"]["secpipe/SecretMasked"] == "AKIA…MPLE"
    assert CLEAR_SECRET.encode() not in req["body"] and b"s3cr3t-for-hmac" not in req["body"]


def test_unset_secret_env_fails_without_sending(tmp_path: Path, http_sink: HttpSink,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    rule = _rule({"type": "webhook", "url": http_sink.url, "secret_env": "NO_SUCH_SECRET"},
                 events=["gate_failed"])
    [d] = _notifier(tmp_path, rule).notify_run(_failed_run())
    assert d.status == "failed" and "NO_SUCH_SECRET is not set" in d.channels[0].error
    assert http_sink.requests == []   # never sent unsigned


def test_retries_transient_then_succeeds(tmp_path: Path, http_sink: HttpSink) -> None:
    http_sink.statuses = [503, 429]
    waits: list[float] = []
    notifier = Notifier([_rule({"type": "webhook", "url": http_sink.url}, events=["gate_failed"])],
                        state=tmp_path / "n.db", sleep=waits.append)
    [d] = notifier.notify_run(_failed_run())
    assert d.status == "sent" and d.channels[0].attempts == 3 and len(waits) == 2
    assert len(http_sink.requests) == 3


def test_client_error_is_not_retried(tmp_path: Path, http_sink: HttpSink) -> None:
    http_sink.statuses = [400]
    rule = _rule({"type": "slack", "url": http_sink.url}, events=["gate_failed"])
    [d] = _notifier(tmp_path, rule).notify_run(_failed_run())
    assert d.status == "failed" and d.channels[0].attempts == 1
    assert "HTTP 400" in d.channels[0].error


def test_unreachable_channel_reported_and_others_still_sent(
        tmp_path: Path, http_sink: HttpSink, caplog: pytest.LogCaptureFixture) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hooks/T000/B000/tokentokentoken"
    rule = _rule({"type": "slack", "url": dead}, {"type": "webhook", "url": http_sink.url},
                 events=["gate_failed"])
    [d] = _notifier(tmp_path, rule).notify_run(_failed_run())
    bad, good = d.channels
    assert d.status == "partial" and good.ok and not bad.ok and bad.attempts == 3
    assert "tokentokentoken" not in bad.error and "tokentokentoken" not in bad.channel
    assert "tokentokentoken" not in caplog.text and "failed after 3 attempt(s)" in caplog.text


def test_sns_to_subscribed_queue(tmp_path: Path, aws: str) -> None:
    sns, sqs = boto("sns", aws), boto("sqs", aws)
    topic = sns.create_topic(Name="secpipe-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    rule = _rule({"type": "sns", "topic_arn": topic, "endpoint_url": aws},
                 events=["gate_failed"])
    [d] = _notifier(tmp_path, rule).notify_run(_failed_run())
    assert d.status == "sent", d
    got = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
    envelope = json.loads(got[0]["Body"])
    assert envelope["TopicArn"] == topic
    assert envelope["Subject"] == "[secpipe] gate FAILED: acme/web@main (2 blocking in iac, secrets)"
    assert "Stage secrets: FAILED" in envelope["Message"]
    assert "AKIA…MPLE" in envelope["Message"] and CLEAR_SECRET not in envelope["Message"]
    assert envelope["MessageAttributes"]["event"]["Value"] == "gate_failed"


def test_cloudwatch_creates_group_and_stream(tmp_path: Path, aws: str) -> None:
    rule = _rule({"type": "cloudwatch", "log_group": "/secpipe/notify-test",
                  "log_stream": "alerts", "endpoint_url": aws}, events=["gate_failed"])
    [d] = _notifier(tmp_path, rule).notify_run(_failed_run())
    assert d.status == "sent", d
    logs = boto("logs", aws)
    events = logs.get_log_events(logGroupName="/secpipe/notify-test",
                                 logStreamName="alerts")["events"]
    [event] = events
    body = json.loads(event["message"])
    assert body["event"] == "gate_failed" and body["severity"] == "CRITICAL"
    assert {s["title"].split(":")[0] for s in body["sections"]} == {"Stage iac", "Stage secrets"}
    assert len(body["findings"]) == 2
    # an existing group/stream is used as is (a second rule writing to the same stream)
    other = _rule({"type": "cloudwatch", "log_group": "/secpipe/notify-test",
                   "log_stream": "alerts", "endpoint_url": aws}, name="other",
                  events=["new_critical"])
    [d3] = _notifier(tmp_path, other).notify_run(_failed_run())
    assert d3.status == "sent", d3
    assert len(logs.get_log_events(logGroupName="/secpipe/notify-test",
                                   logStreamName="alerts")["events"]) == 2


def test_deliver_names_channel_without_url_path(http_sink: HttpSink) -> None:
    from secpipe.notify.message import Message

    ch = _rule({"type": "slack", "url": http_sink.url + "/T/B/secret-token"}).channels[0]
    msg = Message("r", "gate_failed", "s", Severity.LOW, {}, [])
    result = deliver(ch, msg, sleep=lambda s: None)
    assert result.ok and "secret-token" not in result.channel
