"""`secpipe aws pipeline`: the seed's whole AWS pipeline as one CloudFormation template.

What the seed's users clicked together in the console, generated from secpipe.yml: the
artifact bucket and KMS key, the normaliser Lambda, a CodePipeline whose source is CodeCommit or
a GitHub (CodeStar) connection, one CodeBuild project per secpipe stage running
`secpipe run --stage NAME` with the Security Hub and S3 sinks, an ECR repository (scan on push,
immutable tags), the EKS deploy stage with Helm, the DAST stage, Security Hub and AWS Config,
and an encrypted SNS topic for alerts.

Pipeline order follows the seed: every static stage (secrets, lint, IaC...) first, in parallel
where `needs` allow; then image + ECR scan + Helm deploy; then DAST. A failing gate fails its
CodeBuild action and stops the pipeline before anything is deployed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from secpipe.aws import buildspec as bs
from secpipe.aws._cfn_base import (BUCKET, CB_LOGS, FUNCTION, KEY, KMS_USE, PRODUCT_ARN, TOPIC,
                                   alert_resources, allow, arn, assume, bucket_resources,
                                   governance_resources, key_resources, lambda_resources,
                                   policy_doc, ref, sub)
from secpipe.ci import tools_to_install
from secpipe.config import PipelineConfig

IMAGE = "aws/codebuild/standard:7.0"


def _levels(cfg: PipelineConfig, names: list[str]) -> list[list[str]]:
    """Stages grouped so each group only needs earlier groups (needs outside `names` ignored)."""
    done: set[str] = set()
    levels: list[list[str]] = []
    pending = list(names)
    while pending:
        ready = [n for n in pending
                 if all(d in done or d not in names for d in cfg.stages[n].needs)]
        if not ready:  # a cycle: the config loader refuses these; keep order rather than loop
            ready = pending[:1]
        levels.append(ready)
        done.update(ready)
        pending = [n for n in pending if n not in ready]
    return levels


def _logical(name: str) -> str:
    return "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", name) if p) or "Stage"


def _parameters(deploy: bool, dast: bool, project_dir: str, chart: str | None
                ) -> dict[str, Any]:
    params: dict[str, Any] = {
        "SourceProvider": {"Type": "String", "AllowedValues": ["CodeCommit", "GitHub"],
                           "Default": "CodeCommit",
                           "Description": "Where the pipeline's source comes from."},
        "CodeCommitRepositoryName": {"Type": "String", "Default": "",
                                     "Description": "CodeCommit repository (SourceProvider "
                                                    "CodeCommit)."},
        "GitHubConnectionArn": {"Type": "String", "Default": "",
                                "Description": "CodeStar connection ARN (SourceProvider GitHub)."},
        "GitHubRepository": {"Type": "String", "Default": "",
                             "Description": "owner/name on GitHub (SourceProvider GitHub)."},
        "BranchName": {"Type": "String", "Default": "main"},
        "SecpipePipSpec": {"Type": "String", "Default": "secpipe[aws]==0.1.0",
                           "Description": "What CodeBuild pip-installs: a version, a wheel URL "
                                          "or a git URL."},
        "LambdaCodeBucket": {"Type": "String", "Description": "Bucket holding the zip of "
                             "`secpipe aws package-lambda`."},
        "LambdaCodeKey": {"Type": "String", "Default": "secpipe-lambda.zip"},
        "EnableSecurityHub": {"Type": "String", "AllowedValues": ["true", "false"],
                              "Default": "true",
                              "Description": "false when Security Hub is already enabled."},
        "EnableConfig": {"Type": "String", "AllowedValues": ["true", "false"],
                         "Default": "true",
                         "Description": "false when AWS Config already records here."},
        "AlertEmail": {"Type": "String", "Default": "",
                       "Description": "E-mail address subscribed to the alert topic (optional)."},
    }
    if deploy:
        params.update({
            "EksClusterName": {"Type": "String", "Description": "Existing EKS cluster to deploy to."},
            "KubernetesNamespace": {"Type": "String", "Default": "web",
                                    "Description": "Existing namespace the release goes to."},
            "HelmReleaseName": {"Type": "String", "Default": "web"},
            "HelmChartPath": {"Type": "String", "Default": chart or "helm",
                              "Description": f"Chart directory, relative to {project_dir}."},
            "DockerfilePath": {"Type": "String", "Default": "Dockerfile"},
            "CreateEksAccessEntry": {"Type": "String", "AllowedValues": ["true", "false"],
                                     "Default": "true",
                                     "Description": "Grant the deploy role edit rights in the "
                                                    "namespace (cluster auth mode API)."},
        })
    return params


def _conditions(deploy: bool) -> dict[str, Any]:
    out = {
        "UseGitHub": {"Fn::Equals": [ref("SourceProvider"), "GitHub"]},
        "UseCodeCommit": {"Fn::Equals": [ref("SourceProvider"), "CodeCommit"]},
        "CreateSecurityHub": {"Fn::Equals": [ref("EnableSecurityHub"), "true"]},
        "CreateConfig": {"Fn::Equals": [ref("EnableConfig"), "true"]},
        "HasAlertEmail": {"Fn::Not": [{"Fn::Equals": [ref("AlertEmail"), ""]}]},
    }
    if deploy:
        out["CreateAccessEntry"] = {"Fn::Equals": [ref("CreateEksAccessEntry"), "true"]}
    return out


REPO_ARN = sub("arn:${AWS::Partition}:codecommit:${AWS::Region}:${AWS::AccountId}:"
               "${CodeCommitRepositoryName}")


def _source_statements(actions_cc: list[str], git_pull: bool) -> list[Any]:
    cc = allow(actions_cc + (["codecommit:GitPull"] if git_pull else []), REPO_ARN)
    gh = allow(["codestar-connections:UseConnection"], ref("GitHubConnectionArn"))
    return [{"Fn::If": ["UseCodeCommit", cc, ref("AWS::NoValue")]},
            {"Fn::If": ["UseGitHub", gh, ref("AWS::NoValue")]}]


def _build_role(name: str, extra: list[Any]) -> dict[str, Any]:
    # Projects are named <stack>-<stage>, so their report groups are <stack>-<stage>-<report>
    # (naming them here instead of referencing the projects avoids a role<->project cycle).
    groups = sub("arn:${AWS::Partition}:codebuild:${AWS::Region}:${AWS::AccountId}:"
                 "report-group/${AWS::StackName}-*")
    statements = [
        allow(["logs:CreateLogStream", "logs:PutLogEvents"], sub("${%s.Arn}:*" % CB_LOGS)),
        allow(["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
              {"Fn::Sub": "${%s.Arn}/*" % BUCKET}),
        allow(["s3:GetBucketLocation", "s3:GetBucketAcl"], arn(BUCKET)),
        allow(KMS_USE, arn(KEY)),
        allow(["securityhub:BatchImportFindings"], PRODUCT_ARN),
        allow(["codebuild:CreateReportGroup", "codebuild:CreateReport",
               "codebuild:UpdateReport", "codebuild:BatchPutTestCases"], groups),
        *_source_statements([], git_pull=True),
        *extra,
    ]
    return {name: {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": assume("codebuild.amazonaws.com"),
        "Policies": [{"PolicyName": "secpipe-build", "PolicyDocument": policy_doc(*statements)}]}}}


def _project(logical: str, role: str, spec: str, env: dict[str, Any], *, name: str,
             privileged: bool = False, timeout: int = 60) -> dict[str, Any]:
    variables = [{"Name": k, "Value": v} for k, v in env.items()]
    resource: dict[str, Any] = {"Type": "AWS::CodeBuild::Project", "Properties": {
        "Name": sub("${AWS::StackName}-" + name),
        "ServiceRole": arn(role),
        "Source": {"Type": "CODEPIPELINE", "BuildSpec": spec},
        "Artifacts": {"Type": "CODEPIPELINE", "EncryptionDisabled": False},
        "EncryptionKey": arn(KEY),
        "TimeoutInMinutes": timeout,
        "LogsConfig": {"CloudWatchLogs": {"Status": "ENABLED", "GroupName": ref(CB_LOGS),
                                          "StreamName": logical}},
        "Environment": {"Type": "LINUX_CONTAINER", "ComputeType": "BUILD_GENERAL1_MEDIUM",
                        "Image": IMAGE, "PrivilegedMode": privileged,
                        "EnvironmentVariables": variables}}}
    return resource


def _action(name: str, project: str, run_order: int = 1, *, namespace: str | None = None,
            env: list[dict[str, str]] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"ProjectName": ref(project)}
    if env:
        import json
        config["EnvironmentVariables"] = json.dumps(env)
    action: dict[str, Any] = {
        "Name": name, "RunOrder": run_order, "InputArtifacts": [{"Name": "Source"}],
        "ActionTypeId": {"Category": "Build", "Owner": "AWS", "Provider": "CodeBuild",
                         "Version": "1"},
        "Configuration": config}
    if namespace:
        action["Namespace"] = namespace
    return action


def _source_action() -> dict[str, Any]:
    common = {"Name": "Source", "RunOrder": 1, "OutputArtifacts": [{"Name": "Source"}]}
    github = {**common, "ActionTypeId": {"Category": "Source", "Owner": "AWS", "Version": "1",
                                         "Provider": "CodeStarSourceConnection"},
              "Configuration": {"ConnectionArn": ref("GitHubConnectionArn"),
                                "FullRepositoryId": ref("GitHubRepository"),
                                "BranchName": ref("BranchName"),
                                "OutputArtifactFormat": "CODEBUILD_CLONE_REF"}}
    codecommit = {**common, "ActionTypeId": {"Category": "Source", "Owner": "AWS",
                                             "Version": "1", "Provider": "CodeCommit"},
                  "Configuration": {"RepositoryName": ref("CodeCommitRepositoryName"),
                                    "BranchName": ref("BranchName"),
                                    "PollForSourceChanges": False,
                                    "OutputArtifactFormat": "CODEBUILD_CLONE_REF"}}
    return {"Fn::If": ["UseGitHub", github, codecommit]}


def find_chart(root: Path) -> str | None:
    charts = sorted(p.parent for p in root.rglob("Chart.yaml")
                    if "node_modules" not in p.parts and ".secpipe" not in p.parts)
    return charts[0].relative_to(root).as_posix() if charts else None


def _stage_kind(tools: list[str]) -> str:
    if any(t in bs.DEPLOY_TOOLS for t in tools):
        return "deploy"
    if any(t in bs.DAST_TOOLS for t in tools):
        return "dast"
    return "scan"


def pipeline_template(cfg: PipelineConfig, *, project_dir: str = ".",
                      chart: str | None = None) -> dict[str, Any]:
    """The template (a dict) for the pipeline `cfg` describes, for a project at `project_dir`
    (relative to the repository root)."""
    kinds = {name: _stage_kind(st.tools) for name, st in cfg.stages.items()}
    scans = [n for n in cfg.stages if kinds[n] == "scan"]
    deploys = [n for n in cfg.stages if kinds[n] == "deploy"]
    dasts = [n for n in cfg.stages if kinds[n] == "dast"]
    deploy = bool(deploys)
    sink_env = {"SECPIPE_PIP_SPEC": ref("SecpipePipSpec"), "SECPIPE_S3_BUCKET": ref(BUCKET),
                "SECPIPE_KMS_KEY_ID": arn(KEY)}
    resources: dict[str, Any] = {**key_resources(), **bucket_resources()}
    resources[CB_LOGS] = {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": sub("/secpipe/${AWS::StackName}/codebuild"),
        "RetentionInDays": 365, "KmsKeyId": arn(KEY)}}
    resources["Repository"] = {"Type": "AWS::ECR::Repository", "Properties": {
        "ImageScanningConfiguration": {"ScanOnPush": True},
        "ImageTagMutability": "IMMUTABLE",
        "EncryptionConfiguration": {"EncryptionType": "KMS", "KmsKey": arn(KEY)}}}
    resources.update(lambda_resources())
    resources.update(alert_resources())
    resources.update(governance_resources())

    resources.update(_build_role("ScanRole", []))
    stages: list[dict[str, Any]] = [{"Name": "Source", "Actions": [_source_action()]}]
    for level in _levels(cfg, scans):
        actions = []
        for name in level:
            logical = f"{_logical(name)}Project"
            resources[logical] = _project(logical, "ScanRole", bs.scan_buildspec(
                name, tools_to_install(cfg, [name]), project_dir), sink_env, name=name)
            actions.append(_action(name, logical))
        stages.append({"Name": "Scan-" + "-".join(level)[:90], "Actions": actions})

    if deploy:
        repo_arn = arn("Repository")
        image_env = {**sink_env, "ECR_REPOSITORY": ref("Repository"),
                     "ECR_REPOSITORY_URI": {"Fn::GetAtt": ["Repository", "RepositoryUri"]},
                     "DOCKERFILE": ref("DockerfilePath"), "NORMALISER_FUNCTION": ref(FUNCTION)}
        resources.update(_build_role("ImageRole", [
            allow(["ecr:GetAuthorizationToken"], "*"),
            allow(["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
                   "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
                   "ecr:BatchGetImage", "ecr:DescribeImages",
                   "ecr:DescribeImageScanFindings"], repo_arn),
            allow(["lambda:InvokeFunction"], arn(FUNCTION)),
        ]))
        cluster_arn = sub("arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:"
                          "cluster/${EksClusterName}")
        resources.update(_build_role("DeployRole", [
            allow(["eks:DescribeCluster"], cluster_arn)]))
        resources["ImageProject"] = _project("ImageProject", "ImageRole",
                                             bs.image_buildspec(project_dir), image_env,
                                             name="image", privileged=True)
        resources["DeployProject"] = _project("DeployProject", "DeployRole",
                                              bs.deploy_buildspec(project_dir), {
            **sink_env, "ECR_REPOSITORY_URI": {"Fn::GetAtt": ["Repository", "RepositoryUri"]},
            "EKS_CLUSTER": ref("EksClusterName"), "K8S_NAMESPACE": ref("KubernetesNamespace"),
            "HELM_RELEASE": ref("HelmReleaseName"), "HELM_CHART": ref("HelmChartPath")},
            name="deploy")
        resources["DeployAccessEntry"] = {
            "Type": "AWS::EKS::AccessEntry", "Condition": "CreateAccessEntry", "Properties": {
                "ClusterName": ref("EksClusterName"), "PrincipalArn": arn("DeployRole"),
                "Type": "STANDARD", "AccessPolicies": [{
                    "PolicyArn": sub("arn:${AWS::Partition}:eks::aws:cluster-access-policy/"
                                     "AmazonEKSEditPolicy"),
                    "AccessScope": {"Type": "namespace",
                                    "Namespaces": [ref("KubernetesNamespace")]}}]}}
        stages.append({"Name": "Deploy", "Actions": [
            _action("image-and-ecr-scan", "ImageProject", 1),
            _action("helm-on-eks", "DeployProject", 2, namespace="DeployVariables")]})
    for name in dasts:
        logical = f"{_logical(name)}Project"
        resources[logical] = _project(logical, "ScanRole", bs.dast_buildspec(name, project_dir),
                                      sink_env, name=name)
        env = ([{"name": "TARGET_URL", "value": "#{DeployVariables.TARGET_URL}",
                 "type": "PLAINTEXT"}] if deploy else None)
        stages.append({"Name": f"DAST-{name}"[:100], "Actions": [_action(name, logical, env=env)]})

    build_projects = [p for p in resources if resources[p]["Type"] == "AWS::CodeBuild::Project"]
    resources["PipelineRole"] = {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": assume("codepipeline.amazonaws.com"),
        "Policies": [{"PolicyName": "secpipe-pipeline", "PolicyDocument": policy_doc(
            allow(["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                  {"Fn::Sub": "${%s.Arn}/*" % BUCKET}),
            allow(["s3:GetBucketVersioning", "s3:GetBucketLocation"], arn(BUCKET)),
            allow(KMS_USE, arn(KEY)),
            allow(["codebuild:StartBuild", "codebuild:BatchGetBuilds"],
                  [arn(p) for p in build_projects]),
            *_source_statements(["codecommit:GetBranch", "codecommit:GetCommit",
                                 "codecommit:UploadArchive",
                                 "codecommit:GetUploadArchiveStatus"], git_pull=False),
        )}]}}
    resources["Pipeline"] = {"Type": "AWS::CodePipeline::Pipeline", "Properties": {
        "RoleArn": arn("PipelineRole"), "PipelineType": "V2",
        "ArtifactStore": {"Type": "S3", "Location": ref(BUCKET),
                          "EncryptionKey": {"Id": arn(KEY), "Type": "KMS"}},
        "Stages": stages}}
    resources["SourceEventRole"] = {"Type": "AWS::IAM::Role", "Condition": "UseCodeCommit",
                                    "Properties": {
        "AssumeRolePolicyDocument": assume("events.amazonaws.com"),
        "Policies": [{"PolicyName": "start-pipeline", "PolicyDocument": policy_doc(allow(
            ["codepipeline:StartPipelineExecution"],
            sub("arn:${AWS::Partition}:codepipeline:${AWS::Region}:${AWS::AccountId}:"
                "${Pipeline}")))}]}}
    resources["SourceChangedRule"] = {"Type": "AWS::Events::Rule", "Condition": "UseCodeCommit",
                                      "Properties": {
        "Description": "Start the secpipe pipeline on a push to the branch",
        "EventPattern": {"source": ["aws.codecommit"], "resources": [REPO_ARN],
                         "detail-type": ["CodeCommit Repository State Change"],
                         "detail": {"event": ["referenceCreated", "referenceUpdated"],
                                    "referenceType": ["branch"],
                                    "referenceName": [ref("BranchName")]}},
        "Targets": [{"Id": "pipeline", "RoleArn": arn("SourceEventRole"),
                     "Arn": sub("arn:${AWS::Partition}:codepipeline:${AWS::Region}:"
                                "${AWS::AccountId}:${Pipeline}")}]}}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"secpipe pipeline for {cfg.project.name or project_dir} "
                       "(generated by `secpipe aws pipeline`; edit secpipe.yml, not this file)",
        "Parameters": _parameters(deploy, bool(dasts), project_dir, chart),
        "Conditions": _conditions(deploy),
        "Resources": resources,
        "Outputs": {
            "PipelineName": {"Value": ref("Pipeline")},
            "ArtifactBucketName": {"Value": ref(BUCKET)},
            "ArtifactKeyArn": {"Value": arn(KEY)},
            "NormaliserFunctionName": {"Value": ref(FUNCTION)},
            "AlertTopicArn": {"Value": ref(TOPIC)},
            "RepositoryUri": {"Value": {"Fn::GetAtt": ["Repository", "RepositoryUri"]}},
        },
    }


class _NoAliases(yaml.SafeDumper):
    """CloudFormation rejects YAML anchors/aliases; repeated dicts are written out in full."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_template(template: dict[str, Any]) -> str:
    return yaml.dump(template, Dumper=_NoAliases, sort_keys=False, width=100,
                     allow_unicode=True)


__all__ = ["find_chart", "pipeline_template", "render_template"]
