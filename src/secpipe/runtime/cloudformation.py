"""Falco alerting for the pipeline's CloudFormation template: the seed's CloudWatch path.

In the seed, Falco's alerts reach CloudWatch Logs (Fluent Bit there; Falcosidekick's
cloudwatchlogs output with `secpipe falco values --mode sidekick`), a metric filter counts the
ones at Error and above, an alarm fires on one, and SNS e-mails the team. `add_falco_alerting`
adds exactly that to the template `secpipe aws pipeline` builds (secpipe.aws.cloudformation):

- FalcoLogGroup: KMS-encrypted with the stack's key, 365 days;
- FalcoHighPriorityFilter: `{ ($.priority = "Emergency") || ... || ($.priority = "Error") }`
  -> metric secpipe/Falco HighPriorityAlerts;
- FalcoHighPriorityAlarm: Sum >= 1 over a minute -> the stack's AlertTopic;
- FalcoAlertEmailSubscription: an optional extra address for runtime alarms (the topic's own
  AlertEmail subscription receives them as well);
- and what an alarm needs to publish to a KMS-encrypted topic: cloudwatch.amazonaws.com in the
  topic policy and in the key policy (without them the alarm fires and no mail is ever sent).
"""

from __future__ import annotations

import copy
from typing import Any

from secpipe.aws._cfn_base import KEY, TOPIC, arn, ref, sub

LOG_GROUP = "FalcoLogGroup"
NAMESPACE = "secpipe/Falco"
METRIC = "HighPriorityAlerts"
HIGH_PRIORITIES = ("Emergency", "Alert", "Critical", "Error")
FILTER_PATTERN = "{ " + " || ".join(f'($.priority = "{p}")' for p in HIGH_PRIORITIES) + " }"


def falco_resources(topic: str = TOPIC, key: str = KEY) -> dict[str, Any]:
    return {
        LOG_GROUP: {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": sub("/secpipe/${AWS::StackName}/falco"),
            "RetentionInDays": 365, "KmsKeyId": arn(key)}},
        "FalcoHighPriorityFilter": {"Type": "AWS::Logs::MetricFilter", "Properties": {
            "LogGroupName": ref(LOG_GROUP), "FilterPattern": FILTER_PATTERN,
            "MetricTransformations": [{"MetricNamespace": NAMESPACE, "MetricName": METRIC,
                                       "MetricValue": "1", "DefaultValue": 0,
                                       "Unit": "Count"}]}},
        "FalcoHighPriorityAlarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmName": sub("${AWS::StackName}-falco-high-priority"),
            "AlarmDescription": "secpipe: a Falco alert at Error or above in the Falco log group",
            "Namespace": NAMESPACE, "MetricName": METRIC, "Statistic": "Sum", "Period": 60,
            "EvaluationPeriods": 1, "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching", "AlarmActions": [ref(topic)]}},
        "FalcoAlertEmailSubscription": {"Type": "AWS::SNS::Subscription",
                                        "Condition": "HasFalcoAlertEmail", "Properties": {
            "TopicArn": ref(topic), "Protocol": "email", "Endpoint": ref("FalcoAlertEmail")}},
    }


_ALARM_ARNS = sub("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*")


def add_falco_alerting(template: dict[str, Any], *, topic: str = TOPIC,
                       key: str = KEY) -> dict[str, Any]:
    """A copy of `template` with the Falco log group, metric filter, alarm and subscription."""
    out = copy.deepcopy(template)
    resources = out.setdefault("Resources", {})
    for needed in (topic, key):
        if needed not in resources:
            raise ValueError(f"the template has no {needed} to wire the Falco alarm to")
    resources.update(falco_resources(topic, key))
    out.setdefault("Parameters", {})["FalcoAlertEmail"] = {
        "Type": "String", "Default": "",
        "Description": "An extra e-mail address for Falco alarms (optional; AlertEmail gets "
                       "them too)."}
    out.setdefault("Conditions", {})["HasFalcoAlertEmail"] = {
        "Fn::Not": [{"Fn::Equals": [ref("FalcoAlertEmail"), ""]}]}
    statements = resources[key]["Properties"]["KeyPolicy"]["Statement"]
    statements.append({
        "Sid": "CloudWatchAlarmsToEncryptedTopic", "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}})
    for res in resources.values():
        if res.get("Type") == "AWS::SNS::TopicPolicy" and ref(topic) in \
                res["Properties"].get("Topics", []):
            res["Properties"]["PolicyDocument"]["Statement"].append({
                "Sid": "CloudWatchAlarmsPublish", "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
                "Resource": ref(topic),
                "Condition": {"ArnLike": {"aws:SourceArn": _ALARM_ARNS},
                              "StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}})
    out.setdefault("Outputs", {})["FalcoLogGroupName"] = {"Value": ref(LOG_GROUP)}
    return out
