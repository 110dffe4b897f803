"""Sending one message to one channel, with retries.

Each sender raises `Permanent` for what another attempt cannot fix (a 4xx answer, an SMTP 5xx,
a refused login, an unset environment variable) and anything else for what it might (a
connection refused, a timeout, a 5xx or 429, throttling). Error texts never carry a webhook
URL (Slack's carries its token) or a credential: they are built here from parts known safe.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Callable
from urllib.parse import urlsplit

from secpipe.notify.config import (
    CloudWatchChannel, SlackChannel, SmtpChannel, SnsChannel, WebhookChannel, env_value,
)
from secpipe.notify.message import Message, clean

USER_AGENT = "secpipe-notify/1"
_CW_MAX_BYTES = 200_000        # CloudWatch Logs takes 256 KiB per event, headers included
_SNS_MAX_BYTES = 250_000       # SNS: 256 KiB per message


class Permanent(Exception):
    """Another attempt would fail the same way."""


@dataclass
class Result:
    channel: str
    ok: bool
    attempts: int
    error: str = ""


def label(channel: Any) -> str:
    """How logs and notifications.json name a channel: never a URL's path or query."""
    if isinstance(channel, SmtpChannel):
        return f"smtp:{channel.host}:{channel.port}"
    if isinstance(channel, (SlackChannel, WebhookChannel)):
        if channel.url_env:
            return f"{channel.type}:${channel.url_env}"
        return f"{channel.type}:{urlsplit(channel.url or '').netloc}"
    if isinstance(channel, SnsChannel):
        return f"sns:{channel.topic_arn}"
    return f"cloudwatch:{channel.log_group}/{channel.log_stream}"


def deliver(channel: Any, message: Message, *, attempts: int = 3, base_delay: float = 0.5,
            sleep: Callable[[float], None] = time.sleep) -> Result:
    """Send with up to `attempts` tries, exponential backoff (full jitter) in between."""
    from secpipe.sinks._retry import Backoff

    backoff = Backoff(max_attempts=attempts, base=base_delay, cap=10.0, sleep=sleep)
    name = label(channel)
    error = ""
    for attempt in range(attempts):
        try:
            SENDERS[type(channel)](channel, message)
            return Result(name, True, attempt + 1)
        except Permanent as exc:
            return Result(name, False, attempt + 1, clean(str(exc), 500))
        except Exception as exc:  # noqa: BLE001 - transient by default, retried then reported
            error = clean(_describe(exc), 500)
        if attempt + 1 < attempts:
            backoff.wait(attempt)
    return Result(name, False, attempts, error)


def _describe(exc: BaseException) -> str:
    import httpx

    if isinstance(exc, httpx.HTTPError):   # its str() may quote the URL
        return f"{type(exc).__name__}"
    return f"{type(exc).__name__}: {exc}"


def _env(name: str | None, what: str) -> str | None:
    try:
        return env_value(name, what)
    except LookupError as exc:
        raise Permanent(str(exc)) from None


# -- e-mail -----------------------------------------------------------------------------------

def send_smtp(ch: SmtpChannel, message: Message) -> None:
    mail = EmailMessage()
    mail["Subject"] = clean(message.subject, 200)
    mail["From"] = ch.from_
    mail["To"] = ", ".join(ch.to)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain="secpipe.invalid")
    mail["X-Secpipe-Event"] = message.event
    mail["X-Secpipe-Rule"] = clean(message.rule, 64)
    mail["X-Secpipe-Severity"] = message.severity.name
    if message.context.get("run_id"):
        mail["X-Secpipe-Run"] = clean(message.context["run_id"], 64)
    mail.set_content(message.text(), subtype="plain", charset="utf-8")
    user = _env(ch.username_env, f"smtp {ch.host} username")
    password = _env(ch.password_env, f"smtp {ch.host} password")
    try:
        with smtplib.SMTP(ch.host, ch.port, timeout=ch.timeout) as smtp:
            smtp.ehlo()
            if ch.starttls:
                if not smtp.has_extn("starttls"):
                    raise Permanent(f"smtp {ch.host}:{ch.port} does not offer STARTTLS "
                                    "(set starttls: false only for a local relay)")
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if user is not None and password is not None:
                smtp.login(user, password)
            smtp.send_message(mail)
    except smtplib.SMTPAuthenticationError as exc:
        raise Permanent(f"smtp {ch.host}: login refused ({exc.smtp_code})") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise Permanent(f"smtp {ch.host}: recipients refused: "
                        f"{', '.join(sorted(exc.recipients))}") from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        problem = f"smtp {ch.host}: {exc.smtp_code} {text}"
        if exc.smtp_code >= 500:
            raise Permanent(problem) from None
        raise RuntimeError(problem) from None


# -- HTTP -------------------------------------------------------------------------------------

def _post(url: str, body: bytes, headers: dict[str, str], timeout: float, what: str) -> None:
    import httpx

    try:
        resp = httpx.post(url, content=body, timeout=timeout, follow_redirects=False,
                          headers={"Content-Type": "application/json",
                                   "User-Agent": USER_AGENT, **headers})
    except httpx.HTTPError as exc:
        raise RuntimeError(f"{what}: {type(exc).__name__}") from None
    if resp.status_code < 300:
        return
    problem = f"{what}: HTTP {resp.status_code} {clean(resp.text, 200)}"
    if resp.status_code in (408, 425, 429) or resp.status_code >= 500:
        raise RuntimeError(problem)
    raise Permanent(problem)


def send_slack(ch: SlackChannel, message: Message) -> None:
    url = _resolved_url(ch)
    body = json.dumps(message.slack(), ensure_ascii=False).encode("utf-8")
    _post(url, body, {}, ch.timeout, label(ch))


def send_webhook(ch: WebhookChannel, message: Message) -> None:
    url = _resolved_url(ch)
    payload = message.payload()
    payload["sent_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    headers = {"X-Secpipe-Event": message.event}
    secret = _env(ch.secret_env, f"{label(ch)} secret")
    if secret is not None:
        headers[ch.signature_header] = signature(secret, body)
    _post(url, body, headers, ch.timeout, label(ch))


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>`, GitHub's webhook convention, so existing verifiers work unchanged."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _resolved_url(ch: SlackChannel | WebhookChannel) -> str:
    if ch.url:
        return ch.url
    url = _env(ch.url_env, f"{ch.type} url") or ""
    if not url.startswith(("http://", "https://")):
        raise Permanent(f"{ch.type}: ${ch.url_env} is not an http(s) URL")
    return url


# -- AWS --------------------------------------------------------------------------------------

def _aws_call(fn: Callable[..., Any], what: str, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    from secpipe.sinks._retry import error_code, is_retryable

    try:
        return fn(**kwargs)
    except ClientError as exc:
        code, status = error_code(exc)
        problem = f"{what}: {code or status}: {clean(exc.response.get('Error', {}).get('Message'))}"
        if is_retryable(exc):
            raise RuntimeError(problem) from None
        raise Permanent(problem) from None
    except BotoCoreError as exc:
        raise RuntimeError(f"{what}: {type(exc).__name__}: {exc}") from None


def _client(service: str, region: str | None, endpoint_url: str | None) -> Any:
    from secpipe.sinks._aws import make_client, resolve_region
    from secpipe.sinks.interface import SinkError

    try:
        return make_client(service, region=resolve_region(region), endpoint_url=endpoint_url,
                           timeout=30)
    except SinkError as exc:
        raise Permanent(str(exc)) from None


def send_sns(ch: SnsChannel, message: Message) -> None:
    region = ch.region or ch.topic_arn.split(":")[3]
    sns = _client("sns", region, ch.endpoint_url)
    # Subject: ASCII, no line breaks, at most 100 characters (SNS rejects anything else).
    subject = clean(message.subject, 100).encode("ascii", "replace").decode("ascii")
    text = message.text().encode("utf-8")[:_SNS_MAX_BYTES].decode("utf-8", "ignore")
    _aws_call(sns.publish, f"sns {ch.topic_arn}", TopicArn=ch.topic_arn, Subject=subject,
              Message=text, MessageAttributes={
                  "event": {"DataType": "String", "StringValue": message.event},
                  "severity": {"DataType": "String", "StringValue": message.severity.name}})


_CW_READY: set[tuple[str, str, str]] = set()
_CW_LOCK = threading.Lock()


def send_cloudwatch(ch: CloudWatchChannel, message: Message) -> None:
    logs = _client("logs", ch.region, ch.endpoint_url)
    key = (str(logs.meta.endpoint_url), ch.log_group, ch.log_stream)
    what = f"cloudwatch {ch.log_group}/{ch.log_stream}"
    with _CW_LOCK:
        ready = key in _CW_READY
    if not ready:
        _ensure(logs.create_log_group, what, logGroupName=ch.log_group)
        _ensure(logs.create_log_stream, what, logGroupName=ch.log_group,
                logStreamName=ch.log_stream)
        with _CW_LOCK:
            _CW_READY.add(key)
    body = json.dumps(message.payload(), ensure_ascii=False, sort_keys=True)
    if len(body.encode("utf-8")) > _CW_MAX_BYTES:
        payload = message.payload(with_findings=False)
        payload["findings_omitted"] = len(message.findings)
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    try:
        _aws_call(logs.put_log_events, what, logGroupName=ch.log_group,
                  logStreamName=ch.log_stream,
                  logEvents=[{"timestamp": int(time.time() * 1000), "message": body}])
    except Permanent as exc:
        if "ResourceNotFoundException" not in str(exc):
            raise
        with _CW_LOCK:  # deleted since we created it: the next attempt creates it again
            _CW_READY.discard(key)
        raise RuntimeError(str(exc)) from None


def _ensure(fn: Callable[..., Any], what: str, **kwargs: Any) -> None:
    try:
        _aws_call(fn, what, **kwargs)
    except Permanent as exc:
        if "ResourceAlreadyExistsException" not in str(exc):
            raise


SENDERS: dict[type, Callable[[Any, Message], None]] = {
    SmtpChannel: send_smtp, SlackChannel: send_slack, WebhookChannel: send_webhook,
    SnsChannel: send_sns, CloudWatchChannel: send_cloudwatch,
}
