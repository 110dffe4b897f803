"""The seed's Falco -> CloudWatch Logs -> metric filter -> alarm -> SNS path, added to the
pipeline template `secpipe aws pipeline` builds for the example service."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from secpipe.aws.cloudformation import pipeline_template, render_template
from secpipe.config import load_config
from secpipe.runtime.cloudformation import FILTER_PATTERN, add_falco_alerting

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "web"


@pytest.fixture(scope="module")
def template() -> dict:
    cfg = load_config(EXAMPLE).config
    return pipeline_template(cfg, project_dir="examples/web")


def test_the_template_gains_log_group_filter_alarm_and_subscription(template: dict) -> None:
    out = add_falco_alerting(template)
    res = out["Resources"]
    assert set(res) - set(template["Resources"]) == {
        "FalcoLogGroup", "FalcoHighPriorityFilter", "FalcoHighPriorityAlarm",
        "FalcoAlertEmailSubscription"}
    assert "FalcoLogGroup" not in template["Resources"]          # the input is left alone
    group = res["FalcoLogGroup"]["Properties"]
    assert group["RetentionInDays"] == 365 and group["KmsKeyId"] == {
        "Fn::GetAtt": ["ArtifactKey", "Arn"]}
    flt = res["FalcoHighPriorityFilter"]["Properties"]
    assert flt["LogGroupName"] == {"Ref": "FalcoLogGroup"}
    assert flt["FilterPattern"] == FILTER_PATTERN
    assert '($.priority = "Critical") || ($.priority = "Error")' in FILTER_PATTERN
    metric = flt["MetricTransformations"][0]
    alarm = res["FalcoHighPriorityAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (metric["MetricNamespace"],
                                                         metric["MetricName"])
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]
    sub = res["FalcoAlertEmailSubscription"]
    assert sub["Condition"] == "HasFalcoAlertEmail" and sub["Properties"]["Protocol"] == "email"
    assert "FalcoAlertEmail" in out["Parameters"] and "HasFalcoAlertEmail" in out["Conditions"]
    assert out["Outputs"]["FalcoLogGroupName"] == {"Value": {"Ref": "FalcoLogGroup"}}


def test_an_alarm_can_publish_to_the_encrypted_topic(template: dict) -> None:
    res = add_falco_alerting(template)["Resources"]
    key_sids = {s.get("Sid"): s for s in
                res["ArtifactKey"]["Properties"]["KeyPolicy"]["Statement"]}
    cw = key_sids["CloudWatchAlarmsToEncryptedTopic"]
    assert cw["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert "kms:GenerateDataKey*" in cw["Action"]
    topic_policy = res["AlertTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    publish = next(s for s in topic_policy if s.get("Sid") == "CloudWatchAlarmsPublish")
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Action"] == "sns:Publish" and publish["Resource"] == {"Ref": "AlertTopic"}


def test_it_renders_as_plain_cloudformation_yaml(template: dict) -> None:
    text = render_template(add_falco_alerting(template))
    assert "&id" not in text and "*id" not in text                 # no YAML aliases
    assert yaml.safe_load(text)["Resources"]["FalcoHighPriorityAlarm"]["Type"] == \
        "AWS::CloudWatch::Alarm"


def test_a_template_without_the_topic_is_refused() -> None:
    with pytest.raises(ValueError, match="AlertTopic"):
        add_falco_alerting({"Resources": {}})


@pytest.mark.tools
def test_cfn_lint_and_checkov_accept_the_falco_resources(template: dict, tmp_path: Path) -> None:
    import json
    import shutil
    import subprocess

    from secpipe.pipeline.api import RunRequest, run_pipeline
    from secpipe.tools import tool_env

    cfn_lint = shutil.which("cfn-lint", path=tool_env()["PATH"])
    if cfn_lint is None:
        pytest.skip("cfn-lint is not installed: secpipe tools install cfn-lint")
    folder = tmp_path / "infra"
    folder.mkdir()
    path = folder / "template.yaml"
    path.write_text(render_template(add_falco_alerting(template)))
    lint = subprocess.run([cfn_lint, str(path)], capture_output=True, text=True)
    assert lint.returncode & 2 == 0, lint.stdout          # bit 2: errors
    assert "Falco" not in lint.stdout                       # nor a warning about what we added
    (folder / "secpipe.yml").write_text(
        "version: 1\nstages:\n  iac:\n    tools: [checkov]\n    fail_on: high\n"
        "tools:\n  checkov:\n    frameworks: [cloudformation]\n")
    run = run_pipeline(RunRequest(root=folder, out_dir=tmp_path / "out", use_hub=False))
    (stage,) = run.stages
    assert [f.finding.rule_id for f in stage.findings] == [], stage.error
    (tool,) = stage.tools
    report = json.loads((Path(run.run_dir) / tool.report_file).read_text())
    reports = report if isinstance(report, list) else [report]
    (cfn,) = [r for r in reports if r.get("check_type") == "cloudformation"]
    assert cfn["summary"]["failed"] == 0
