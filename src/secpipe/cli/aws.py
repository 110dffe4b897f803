"""AWS and CI commands: `secpipe aws pipeline|package-lambda|envelope`, `secpipe ci
github|gitlab|gitlab-sast`. Generators print to stdout so they compose with `>`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click


def _fail(message: str) -> click.exceptions.Exit:
    from secpipe.cli._common import fail
    return fail(message)


def _config(path: Path, config_file: Path | None):
    from secpipe.config import ConfigError, load_config

    try:
        return load_config(path, config_file)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _project_dir(path: Path, explicit: str | None) -> str:
    """The project's folder relative to the repository root (where CI checks it out)."""
    if explicit is not None:
        return explicit.strip("/") or "."
    try:
        top = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        top = ""
    if not top:
        return "."
    try:
        return path.resolve().relative_to(Path(top).resolve()).as_posix() or "."
    except ValueError:
        return "."


PATH_ARG = click.argument("path", type=click.Path(path_type=Path, file_okay=False), default=".")
CONFIG_OPT = click.option("-c", "--config", "config_file", type=click.Path(path_type=Path),
                          help="Pipeline config (default: PATH/secpipe.yml, else the built-in).")
DIR_OPT = click.option("--project-dir", metavar="DIR",
                       help="PATH relative to the repository root (default: from git).")


@click.group()
def aws() -> None:
    """secpipe on AWS: the pipeline as CloudFormation, the normaliser Lambda.

    \b
    Examples:
      secpipe aws pipeline examples/web > template.yaml
      secpipe aws package-lambda --out secpipe-lambda.zip
    """


@aws.command("pipeline")
@PATH_ARG
@CONFIG_OPT
@DIR_OPT
def aws_pipeline(path: Path, config_file: Path | None, project_dir: str | None) -> None:
    """Print a CloudFormation template for the pipeline secpipe.yml describes.

    \b
    CodePipeline (CodeCommit or a GitHub connection) with one CodeBuild project
    per stage running `secpipe run --stage NAME --sink securityhub --sink s3`,
    the artifact bucket and KMS key, the normaliser Lambda, ECR (scan on push,
    immutable tags), Helm on EKS, DAST, Security Hub, AWS Config, SNS alerts.

    \b
    Examples:
      secpipe aws pipeline examples/web > template.yaml
      secpipe aws pipeline . -c ci/secpipe.yml --project-dir services/web > pipeline.yaml
      aws cloudformation deploy --template-file template.yaml --stack-name web-secpipe \\
        --capabilities CAPABILITY_IAM --parameter-overrides LambdaCodeBucket=my-bucket ...
    """
    from secpipe.aws.cloudformation import find_chart, pipeline_template, render_template

    loaded = _config(path, config_file)
    chart = find_chart(path)
    template = pipeline_template(loaded.config, project_dir=_project_dir(path, project_dir),
                                 chart=chart)
    if any("runtime-sensor" in s.tools for s in loaded.config.stages.values()):
        # Falco on EKS -> CloudWatch Logs -> metric filter -> alarm -> the SNS alert topic
        from secpipe.runtime.cloudformation import add_falco_alerting
        template = add_falco_alerting(template)
    sys.stdout.write(render_template(template))


@aws.command("package-lambda")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("secpipe-lambda.zip"), show_default=True)
@click.option("--python", "python", default="3.12", show_default=True,
              help="The Lambda runtime's Python version (python3.12 in the template).")
@click.option("--arch", type=click.Choice(["x86_64", "arm64"]), default="x86_64",
              show_default=True)
@click.option("--source", metavar="DIR|REQ",
              help="secpipe's source tree or a pip requirement (default: this checkout).")
def aws_package_lambda(out: Path, python: str, arch: str, source: str | None) -> None:
    """Build the normaliser Lambda's zip: secpipe and its dependencies, minus boto3.

    \b
    Handler: secpipe.aws.lambda_handler.lambda_handler. Upload the zip to the
    bucket you pass as LambdaCodeBucket to the template.

    \b
    Examples:
      secpipe aws package-lambda
      secpipe aws package-lambda --out dist/lambda.zip --arch arm64
    """
    from secpipe.aws.package import PackageError, package_lambda

    try:
        pkg = package_lambda(out, python=python, arch=arch, source=source)
    except PackageError as exc:
        raise _fail(str(exc)) from None
    click.echo(f"{pkg.path}: {pkg.size / 1e6:.1f} MB ({pkg.size} bytes), {pkg.files} files, "
               f"Python {pkg.python} {pkg.arch}")


@aws.command("envelope")
@click.option("--type", "report_type", required=True, metavar="TYPE",
              help="reportType: ANCHORE, ECR, OWASP-Zap, SNYK or any `secpipe formats` name.")
@click.option("--report", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
              required=True, help="The tool's raw report.")
def aws_envelope(report_type: str, report: Path) -> None:
    """Print the seed's CodeScanReport envelope for a report (for `aws lambda invoke`).

    \b
    Repository, branch, commit and build id come from the CI's variables
    (CodeBuild, GitHub Actions, GitLab) or git.

    \b
    Example:
      secpipe aws envelope --type ECR --report ecr-scan.json > envelope.json
      aws lambda invoke --function-name web-secpipe-normaliser \\
        --cli-binary-format raw-in-base64-out --payload fileb://envelope.json out.json
    """
    from secpipe.aws.lambda_handler import EnvelopeError, make_envelope, resolve_format

    try:
        data = sys.stdin.buffer.read() if str(report) == "-" else report.read_bytes()
    except OSError as exc:
        raise _fail(f"{report}: cannot read: {exc.strerror or exc}") from None
    try:
        resolve_format(report_type, data)  # an unknown type fails here, not in the Lambda
    except EnvelopeError as exc:
        raise _fail(str(exc)) from None
    click.echo(json.dumps(make_envelope(report_type, data), ensure_ascii=False))


@click.group()
def ci() -> None:
    """The pipeline on other CI systems (GitHub Actions, GitLab CI).

    \b
    Examples:
      secpipe ci github > .github/workflows/secpipe.yml
      secpipe ci gitlab > .gitlab-ci.yml
    """


@ci.command("github")
@PATH_ARG
@CONFIG_OPT
@DIR_OPT
def ci_github(path: Path, config_file: Path | None, project_dir: str | None) -> None:
    """Print a GitHub Actions workflow: run the pipeline, SARIF to code scanning.

    \b
    Example:
      secpipe ci github examples/web > .github/workflows/secpipe.yml
    """
    from secpipe.ci import github_workflow

    loaded = _config(path, config_file)
    sys.stdout.write(github_workflow(loaded.config, project_dir=_project_dir(path, project_dir)))


@ci.command("gitlab")
@PATH_ARG
@CONFIG_OPT
@DIR_OPT
def ci_gitlab(path: Path, config_file: Path | None, project_dir: str | None) -> None:
    """Print a GitLab CI job with JUnit and SAST report artifacts.

    \b
    Example:
      secpipe ci gitlab examples/web > .gitlab-ci.yml
    """
    from secpipe.ci import gitlab_ci

    loaded = _config(path, config_file)
    sys.stdout.write(gitlab_ci(loaded.config, project_dir=_project_dir(path, project_dir)))


@ci.command("gitlab-sast")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
def ci_gitlab_sast(run_dir: Path) -> None:
    """Print a run's findings as a GitLab SAST report (security-report schema 15).

    \b
    Example:
      secpipe ci gitlab-sast .secpipe/runs/latest > gl-sast-report.json
    """
    from secpipe.ci import gitlab_sast_report

    try:
        report = gitlab_sast_report(run_dir)
    except (OSError, ValueError, KeyError) as exc:
        raise _fail(f"{run_dir}: not a secpipe run directory ({exc})") from None
    click.echo(json.dumps(report, indent=2, ensure_ascii=False))


def register(main: click.Group) -> None:
    main.add_command(aws)
    main.add_command(ci)
