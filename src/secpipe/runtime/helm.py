"""Helm values for the falcosecurity/falco chart: where alerts go, and the service's rules.

Two ways to ship alerts:

- `http` (default): Falco's own http_output POSTs each alert to the hub's `/falco`. Falco
  cannot add headers, so the hub token rides in the URL's userinfo, which libcurl sends as
  HTTP Basic; the URL uses `${SECPIPE_HUB_TOKEN}`, which Falco expands from its environment,
  filled from a Kubernetes Secret - the token never appears in the values file.
- `sidekick`: the chart's Falcosidekick fans alerts out to CloudWatch Logs and SNS (the seed's
  Fluent Bit -> CloudWatch -> metric filter -> SNS e-mail path, without Fluent Bit) and to the
  hub through its webhook output, whose `Authorization: Bearer` header comes from the same
  kind of Secret (WEBHOOK_CUSTOMHEADERS).

The service's rules (`secpipe.runtime.service_rules`) go in `customRules`, which the chart
mounts into /etc/falco/rules.d, loaded after the default falco_rules.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import yaml

from secpipe.formats.falco import priority_of
from secpipe.runtime.service_rules import DEFAULT_WEB_PROCESSES, service_rules

RULES_FILE = "secpipe_rules.yaml"
MODES = ("http", "sidekick")


@dataclass
class ValuesOptions:
    hub_url: str = "https://secpipe-hub.example.com"
    mode: str = "http"
    token_secret: str = "secpipe-hub-token"     # Secret with key `token` (http) / `header` (sidekick)
    web_processes: Sequence[str] = DEFAULT_WEB_PROCESSES
    service: str = "web"
    region: str = ""
    log_group: str = ""
    sns_topic_arn: str = ""
    minimum_priority: str = "notice"
    insecure_tls: bool = False


def _falco_url(hub_url: str) -> str:
    scheme, sep, rest = hub_url.rstrip("/").partition("://")
    if not sep:
        raise ValueError(f"hub URL {hub_url!r} needs a scheme (https://...)")
    return f"{scheme}://falco:${{SECPIPE_HUB_TOKEN}}@{rest}/falco"


def values(opts: ValuesOptions) -> dict[str, Any]:
    """The chart values as a mapping (yaml.safe_dump it)."""
    if opts.mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {opts.mode!r}")
    prio = priority_of(opts.minimum_priority)
    if prio is None:
        raise ValueError(f"unknown Falco priority {opts.minimum_priority!r}")
    minimum = prio[0].lower()
    rules = service_rules(opts.web_processes, opts.service)
    falco: dict[str, Any] = {
        "json_output": True,
        "json_include_output_property": True,
        "json_include_tags_property": True,
        "priority": minimum,
        "rules_files": ["/etc/falco/falco_rules.yaml", "/etc/falco/falco_rules.local.yaml",
                        "/etc/falco/rules.d"],
    }
    out: dict[str, Any] = {"tty": True, "falco": falco, "customRules": {RULES_FILE: rules}}
    if opts.mode == "http":
        falco["http_output"] = {"enabled": True, "url": _falco_url(opts.hub_url),
                                "user_agent": "falcosecurity/falco", "insecure": opts.insecure_tls}
        out["extra"] = {"env": [{"name": "SECPIPE_HUB_TOKEN", "valueFrom": {
            "secretKeyRef": {"name": opts.token_secret, "key": "token"}}}]}
        return out
    # Falcosidekick: the chart points Falco's http_output at the sidekick service itself.
    falco["http_output"] = {"enabled": True}
    config: dict[str, Any] = {
        "webhook": {"address": opts.hub_url.rstrip("/") + "/falco", "method": "POST",
                    "minimumpriority": minimum, "checkcert": not opts.insecure_tls},
        "extraEnv": [{"name": "WEBHOOK_CUSTOMHEADERS", "valueFrom": {
            "secretKeyRef": {"name": opts.token_secret, "key": "header"}}}],
    }
    aws: dict[str, Any] = {}
    if opts.region:
        aws["region"] = opts.region
    if opts.log_group:
        aws["cloudwatchlogs"] = {"loggroup": opts.log_group, "minimumpriority": minimum}
    if opts.sns_topic_arn:
        aws["sns"] = {"topicarn": opts.sns_topic_arn, "rawjson": True,
                      "minimumpriority": "error"}
    if aws:
        config["aws"] = aws
    out["falcosidekick"] = {"enabled": True, "config": config}
    return out


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the rules file) as `|` blocks, readable in the values file."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(opts: ValuesOptions) -> str:
    header = (f"# Helm values for falcosecurity/falco, written by `secpipe falco values` "
              f"(mode: {opts.mode}).\n")
    if opts.mode == "http":
        header += (f"# Create the token Secret first:\n#   kubectl -n falco create secret generic "
                   f"{opts.token_secret} --from-literal=token=$SECPIPE_HUB_TOKEN\n")
    else:
        header += (f"# Create the webhook header Secret first:\n#   kubectl -n falco create "
                   f"secret generic {opts.token_secret} "
                   f"--from-literal=header=\"Authorization:Bearer $SECPIPE_HUB_TOKEN\"\n")
    return header + yaml.dump(values(opts), Dumper=_Dumper, sort_keys=False, width=100)
