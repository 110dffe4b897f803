"""The template's foundation: KMS key, buckets, alerts, the normaliser Lambda, Security Hub and
AWS Config. Plain dicts in CloudFormation's long intrinsic form (`Fn::Sub`, `Ref`), so the
YAML is written by `yaml.safe_dump` with no custom tags.

Every checkov check that does not pass carries a `Metadata.checkov.skip` entry saying why; no
finding is left unexplained.
"""

from __future__ import annotations

from typing import Any

KEY = "ArtifactKey"
BUCKET = "ArtifactBucket"
LOG_BUCKET = "AccessLogBucket"
TOPIC = "AlertTopic"
FUNCTION = "NormaliserFunction"
CB_LOGS = "BuildLogGroup"


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def arn(name: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, "Arn"]}


def skip(*checks: tuple[str, str]) -> dict[str, Any]:
    return {"checkov": {"skip": [{"id": c, "comment": why} for c, why in checks]}}


def policy_doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions: list[str], resources: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def assume(service: str) -> dict[str, Any]:
    return policy_doc({"Effect": "Allow", "Principal": {"Service": service},
                       "Action": "sts:AssumeRole"})


PRODUCT_ARN = sub("arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:"
                  "product/${AWS::AccountId}/default")
KMS_USE = ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"]


def key_resources() -> dict[str, Any]:
    """One customer-managed key (rotation on) for the buckets, logs, topic, queue, builds."""
    service_use = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                   "kms:DescribeKey"]
    return {
        KEY: {"Type": "AWS::KMS::Key", "DeletionPolicy": "Retain",
              "UpdateReplacePolicy": "Retain", "Properties": {
                  "Description": sub("secpipe ${AWS::StackName}: reports, findings, logs"),
                  "EnableKeyRotation": True,
                  "KeyPolicy": policy_doc(
                      {"Sid": "AccountAdministers", "Effect": "Allow",
                       "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                       "Action": "kms:*", "Resource": "*"},
                      {"Sid": "CloudWatchLogs", "Effect": "Allow",
                       "Principal": {"Service": sub("logs.${AWS::Region}.amazonaws.com")},
                       "Action": service_use, "Resource": "*",
                       "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": sub(
                           "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*")}}},
                      {"Sid": "EventsToEncryptedTopic", "Effect": "Allow",
                       "Principal": {"Service": "events.amazonaws.com"},
                       "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
                       "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}},
                  )}},
        "ArtifactKeyAlias": {"Type": "AWS::KMS::Alias", "Properties": {
            "AliasName": sub("alias/secpipe-${AWS::StackName}"), "TargetKeyId": ref(KEY)}},
    }


def _public_block() -> dict[str, bool]:
    return {"BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True}


def _tls_only(bucket: str) -> dict[str, Any]:
    return {"Type": "AWS::S3::BucketPolicy", "Properties": {
        "Bucket": ref(bucket),
        "PolicyDocument": policy_doc({
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn(bucket), {"Fn::Sub": "${%s.Arn}/*" % bucket}],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}})}}


def bucket_resources() -> dict[str, Any]:
    """The artifact/archive bucket (SSE-KMS, versioned, private, TLS-only, access-logged) and
    the bucket receiving its access logs."""
    return {
        LOG_BUCKET: {
            "Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Metadata": skip(
                ("CKV_AWS_18", "This bucket is the access-log target; logging it into itself "
                 "would loop.")),
            "Properties": {
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": _public_block(),
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LifecycleConfiguration": {"Rules": [{"Id": "expire-access-logs",
                                                      "Status": "Enabled",
                                                      "ExpirationInDays": 365}]},
            }},
        "AccessLogBucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": ref(LOG_BUCKET),
            "PolicyDocument": policy_doc(
                {"Sid": "S3ServerAccessLogs", "Effect": "Allow",
                 "Principal": {"Service": "logging.s3.amazonaws.com"},
                 "Action": "s3:PutObject", "Resource": {"Fn::Sub": "${%s.Arn}/*" % LOG_BUCKET},
                 "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}},
                {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
                 "Action": "s3:*",
                 "Resource": [arn(LOG_BUCKET), {"Fn::Sub": "${%s.Arn}/*" % LOG_BUCKET}],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}})}},
        BUCKET: {
            "Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [{
                    "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                      "KMSMasterKeyID": arn(KEY)},
                    "BucketKeyEnabled": True}]},
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": _public_block(),
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LoggingConfiguration": {"DestinationBucketName": ref(LOG_BUCKET),
                                         "LogFilePrefix": "artifact-bucket/"},
            }},
        "ArtifactBucketPolicy": _tls_only(BUCKET),
    }


def alert_resources() -> dict[str, Any]:
    """A KMS-encrypted SNS topic fed by EventBridge: HIGH/CRITICAL findings of secpipe imported
    into Security Hub, and failed pipeline executions."""
    target = [{"Arn": ref(TOPIC), "Id": "alerts"}]
    return {
        TOPIC: {"Type": "AWS::SNS::Topic", "Properties": {
            "DisplayName": "secpipe alerts", "KmsMasterKeyId": ref(KEY)}},
        "AlertTopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {
            "Topics": [ref(TOPIC)],
            "PolicyDocument": policy_doc({
                "Sid": "EventBridgePublishes", "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"}, "Action": "sns:Publish",
                "Resource": ref(TOPIC),
                "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}})}},
        "AlertEmailSubscription": {"Type": "AWS::SNS::Subscription", "Condition": "HasAlertEmail",
                                   "Properties": {"TopicArn": ref(TOPIC), "Protocol": "email",
                                                  "Endpoint": ref("AlertEmail")}},
        "HighFindingsRule": {"Type": "AWS::Events::Rule", "Properties": {
            "Description": "secpipe: HIGH or CRITICAL findings imported into Security Hub",
            "EventPattern": {"source": ["aws.securityhub"],
                             "detail-type": ["Security Hub Findings - Imported"],
                             "detail": {"findings": {
                                 "ProductFields": {"secpipe/Tool": [{"exists": True}]},
                                 "Severity": {"Label": ["HIGH", "CRITICAL"]},
                                 "RecordState": ["ACTIVE"]}}},
            "Targets": target}},
        "PipelineFailedRule": {"Type": "AWS::Events::Rule", "Properties": {
            "Description": "secpipe: a pipeline execution failed (a gate or a tool)",
            "EventPattern": {"source": ["aws.codepipeline"],
                             "detail-type": ["CodePipeline Pipeline Execution State Change"],
                             "detail": {"state": ["FAILED"], "pipeline": [ref("Pipeline")]}},
            "Targets": target}},
    }


def lambda_resources() -> dict[str, Any]:
    """The normaliser Lambda (secpipe.aws.lambda_handler) with a role that can do exactly its
    job: write envelopes under reports/ with the key, import findings, log, dead-letter."""
    name = sub("${AWS::StackName}-normaliser")
    return {
        "NormaliserDeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {
            "KmsMasterKeyId": ref(KEY), "MessageRetentionPeriod": 1209600}},
        "NormaliserLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": sub("/aws/lambda/${AWS::StackName}-normaliser"),
            "RetentionInDays": 365, "KmsKeyId": arn(KEY)}},
        "NormaliserRole": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": assume("lambda.amazonaws.com"),
            "Policies": [{"PolicyName": "normaliser", "PolicyDocument": policy_doc(
                allow(["logs:CreateLogStream", "logs:PutLogEvents"],
                      {"Fn::Sub": "${NormaliserLogGroup.Arn}"}),
                allow(["s3:PutObject"], {"Fn::Sub": "${%s.Arn}/reports/*" % BUCKET}),
                allow(["kms:GenerateDataKey", "kms:Decrypt"], arn(KEY)),
                allow(["securityhub:BatchImportFindings"], PRODUCT_ARN),
                allow(["sqs:SendMessage"], arn("NormaliserDeadLetters")),
                allow(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*"),
            )}]}},
        FUNCTION: {
            "Type": "AWS::Lambda::Function", "DependsOn": ["NormaliserLogGroup"],
            "Metadata": skip(
                ("CKV_AWS_117", "The function only calls S3, Security Hub and KMS public "
                 "endpoints; a VPC would add NAT or endpoints and no isolation.")),
            "Properties": {
                "FunctionName": name,
                "Description": "secpipe: archive seed-style report envelopes to S3 (SSE-KMS) "
                               "and import their findings into Security Hub",
                "Runtime": "python3.12",
                "Handler": "secpipe.aws.lambda_handler.lambda_handler",
                "Code": {"S3Bucket": ref("LambdaCodeBucket"), "S3Key": ref("LambdaCodeKey")},
                "Role": arn("NormaliserRole"),
                "MemorySize": 512, "Timeout": 300, "ReservedConcurrentExecutions": 5,
                "KmsKeyArn": arn(KEY),
                "TracingConfig": {"Mode": "Active"},
                "DeadLetterConfig": {"TargetArn": arn("NormaliserDeadLetters")},
                "Environment": {"Variables": {
                    "SECPIPE_S3_BUCKET": ref(BUCKET), "SECPIPE_KMS_KEY_ID": arn(KEY),
                    "SECPIPE_ACCOUNT_ID": ref("AWS::AccountId")}},
            }},
    }


def governance_resources() -> dict[str, Any]:
    """Security Hub and AWS Config, each only when the account does not have it yet (both are
    one-per-account-and-region: creating a second fails the stack)."""
    return {
        "SecurityHub": {"Type": "AWS::SecurityHub::Hub", "Condition": "CreateSecurityHub",
                        "Properties": {"EnableDefaultStandards": True,
                                       "ControlFindingGenerator": "SECURITY_CONTROL"}},
        "ConfigRole": {"Type": "AWS::IAM::Role", "Condition": "CreateConfig", "Properties": {
            "AssumeRolePolicyDocument": assume("config.amazonaws.com"),
            "ManagedPolicyArns": [sub("arn:${AWS::Partition}:iam::aws:policy/service-role/"
                                      "AWS_ConfigRole")],
            "Policies": [{"PolicyName": "config-delivery", "PolicyDocument": policy_doc(
                allow(["s3:PutObject"], {"Fn::Sub": "${%s.Arn}/config/*" % BUCKET}),
                allow(["s3:GetBucketAcl"], arn(BUCKET)),
                allow(["kms:GenerateDataKey", "kms:Decrypt"], arn(KEY)),
                allow(["sns:Publish"], ref(TOPIC)),
            )}]}},
        "ConfigRecorder": {"Type": "AWS::Config::ConfigurationRecorder",
                           "Condition": "CreateConfig", "Properties": {
                               "RoleARN": arn("ConfigRole"),
                               "RecordingGroup": {"AllSupported": True,
                                                  "IncludeGlobalResourceTypes": True}}},
        "ConfigDelivery": {"Type": "AWS::Config::DeliveryChannel", "Condition": "CreateConfig",
                           "Properties": {"S3BucketName": ref(BUCKET), "S3KeyPrefix": "config",
                                          "S3KmsKeyArn": arn(KEY),
                                          "SnsTopicARN": ref(TOPIC)}},
    }
