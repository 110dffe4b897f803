"""`notifications:` in secpipe.yml: valid rules load, mistakes name key and line, and secrets
can only be named by environment variable."""

from __future__ import annotations

import pytest

from secpipe.config import ConfigError, parse_config
from secpipe.model import Severity

HEAD = """version: 1
stages:
  iac: {tools: [checkov]}
  secrets: {tools: [gitleaks]}
notifications:
"""


def test_full_rule_loads() -> None:
    cfg = parse_config(HEAD + """  - name: security-team
    min_severity: high
    min_priority: Warning
    sources: [iac, secrets, runtime]
    events: [gate_failed, new_critical, new_finding, runtime_alert]
    rate_limit: {max: 10, window: 3600}
    dedup_window: 86400
    report_url: "https://ci.example/{run_id}/report.html"
    channels:
      - type: smtp
        host: smtp.example.com
        port: 587
        username_env: SMTP_USER
        password_env: SMTP_PASSWORD
        from: secpipe@example.com
        to: [sec@example.com, oncall@example.com]
      - {type: slack, url_env: SLACK_WEBHOOK_URL}
      - {type: webhook, url: "https://hooks.example.com/secpipe", secret_env: HOOK_SECRET}
      - {type: sns, topic_arn: "arn:aws-cn:sns:cn-north-1:123456789012:alerts"}
      - {type: cloudwatch, log_group: /secpipe/alerts, region: eu-west-1}
""")
    [rule] = cfg.notifications
    assert rule.min_severity is Severity.HIGH and rule.min_priority == "warning"
    assert [c.type for c in rule.channels] == ["smtp", "slack", "webhook", "sns", "cloudwatch"]
    assert rule.channels[0].from_ == "secpipe@example.com" and rule.channels[0].starttls
    assert rule.rate_limit.max == 10 and rule.dedup_window == 86400


def test_defaults_and_no_section() -> None:
    cfg = parse_config(HEAD + "  - {name: a, channels: [{type: slack, url: 'https://x'}]}\n")
    [rule] = cfg.notifications
    assert rule.events == ["gate_failed", "new_critical", "runtime_alert"]
    assert rule.sources == [] and rule.dedup_window == 3600 and rule.rate_limit is None
    assert parse_config(HEAD.replace("notifications:\n", "")).notifications == []


@pytest.mark.parametrize("rule, where", [
    ("""  - name: a
    sources:
      - iac
      - iak
    channels: [{type: slack, url: 'https://x'}]
""", "secpipe.yml:9: notifications.0.sources.1: unknown source 'iak'"),
    ("""  - name: a
    min_severity: severe
    channels: [{type: slack, url: 'https://x'}]
""", "secpipe.yml:7: notifications.0.min_severity: unknown severity 'severe'"),
    ("""  - name: a
    min_priority: loud
    channels: [{type: slack, url: 'https://x'}]
""", "secpipe.yml:7: notifications.0.min_priority: unknown Falco priority 'loud'"),
    ("""  - name: a
    events: [gate_broken]
    channels: [{type: slack, url: 'https://x'}]
""", "secpipe.yml:7: notifications.0.events.0: Input should be"),
    ("""  - name: a
    channels:
      - type: smtp
        host: mail
        from: a@b.c
        to: [x@y.z]
        password: hunter2
""", "secpipe.yml:8: notifications.0.channels.0.smtp: 'password' is never written in "
    "secpipe.yml"),
    ("""  - name: a
    channels:
      - {type: webhook, url: 'https://x', secret: abc}
""", "secpipe.yml:8: notifications.0.channels.0.webhook: 'secret' is never written"),
    ("""  - name: a
    channels:
      - {type: smtp, host: m, from: a@b.c, to: [x@y.z], starttls: false,
         username_env: U, password_env: P}
""", "credentials are only sent over STARTTLS"),
    ("""  - name: a
    channels:
      - {type: smtp, host: m, from: a@b.c, to: [not-an-address]}
""", "notifications.0.channels.0.smtp.to: 'not-an-address' is not an e-mail address"),
    ("""  - name: a
    channels:
      - {type: sns, topic_arn: my-topic}
""", "'my-topic' is not an SNS topic ARN"),
    ("""  - name: a
    channels:
      - {type: pager, url: 'https://x'}
""", "secpipe.yml:8: notifications.0.channels.0: Input tag 'pager' found"),
    ("""  - name: a
    channels: []
""", "secpipe.yml:7: notifications.0.channels: List should have at least 1 item"),
    ("""  - {name: a, channels: [{type: slack, url: 'https://x'}]}
  - {name: a, channels: [{type: slack, url: 'https://y'}]}
""", "secpipe.yml:7: notifications.1.name: rule name 'a' is used twice"),
    ("""  - {name: a, colour: red, channels: [{type: slack, url: 'https://x'}]}
""", "secpipe.yml:6: notifications.0.colour: unknown key"),
])
def test_errors_name_key_and_line(rule: str, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(HEAD + rule)
    assert where in str(err.value), str(err.value)
