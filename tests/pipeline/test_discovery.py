"""Every Dockerfile, every checkov framework that is there: found, scanned, and listed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from secpipe.formats import get_format
from secpipe.scanners._discovery import (
    checkov_reads_name, dockerfile_by_content, dockerfile_by_name, inventory,
)
from secpipe.scanners.checkov import Checkov, skip_paths
from secpipe.scanners.hadolint import Hadolint
from secpipe.scanners.interface import ScanRequest
from secpipe.tools import tool_env

WORKFLOW = """\
name: greet
on:
  issues:
    types: [opened]
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - name: echo the title
        run: echo "${{ github.event.issue.title }}"
"""


@pytest.mark.parametrize("name, expected", [
    ("Dockerfile", True), ("Dockerfile.prod", True), ("Dockerfile_webdesktop", True),
    ("api.Dockerfile", True), ("Containerfile", True), ("Containerfile.dev", True),
    ("Dockerfile.dockerignore", False), (".dockerignore", False), ("dockerfile.md", False),
    ("README", False), ("Makefile", False),
])
def test_dockerfile_names(name: str, expected: bool) -> None:
    assert dockerfile_by_name(name) is expected


@pytest.mark.parametrize("text, expected", [
    ("FROM alpine:3.19\nRUN true\n", True),
    ("# syntax=docker/dockerfile:1\n\nfrom --platform=$BUILDPLATFORM node:20 AS build\n", True),
    ("ARG BASE=node:20\nFROM ${BASE}\n", True),
    ("ARG BASE=node:20\nRUN echo\n", False),
    ("From the beginning, this was a note.\n", False),
    ("#!/bin/sh\nFROM=1\n", False),
    ("", False),
])
def test_dockerfile_content(text: str, expected: bool) -> None:
    assert dockerfile_by_content(text) is expected


def test_checkov_name_mask_is_what_needs_help() -> None:
    assert checkov_reads_name("Dockerfile") and checkov_reads_name("api.Dockerfile")
    assert not checkov_reads_name("Dockerfile_web") and not checkov_reads_name("Containerfile")


def test_skip_paths_never_hide_github_workflows() -> None:
    # checkov skips a path when a skip value is a substring of it: `.git` hid `.github`
    assert not any(".github/workflows/ci.yml".find(p) >= 0 for p in skip_paths(["build"]))
    assert "build" in skip_paths(["build"])


def _tree(root: Path) -> Path:
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    (root / "Dockerfile_web").write_text("FROM alpine:3.19\nRUN apk add curl\n")
    (root / "Containerfile").write_text("FROM debian\n")
    (root / "docker").mkdir()
    (root / "docker" / "image").write_text("# base\nARG V=20\nFROM node:${V}\nUSER root\n")
    (root / "NOTES").write_text("From the beginning.\n")
    (root / "api").mkdir()
    (root / "api" / "openapi.yaml").write_text("openapi: 3.0.0\ninfo: {title: t, version: '1'}\n"
                                               "paths: {}\n")
    (root / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = "b"\n'
                                  '  acl = "public-read"\n}\n')
    (root / "node_modules" / "x").mkdir(parents=True)
    (root / "node_modules" / "x" / "Dockerfile").write_text("FROM scratch\n")
    return root


def test_inventory(tmp_path: Path) -> None:
    inv = inventory(_tree(tmp_path))
    assert inv.dockerfiles == ["Containerfile", "Dockerfile_web", "docker/image"]
    assert inv.framework_names() == ["dockerfile", "terraform", "openapi", "github_actions",
                                     "secrets"]
    assert inv.frameworks["github_actions"] == [".github/workflows/ci.yml"]


def _request(root: Path, tmp: Path, **options) -> ScanRequest:
    return ScanRequest(root=root, workdir=tmp, options=options, timeout=600, env=tool_env())


@pytest.mark.tools
def test_checkov_runs_every_framework_present_and_every_dockerfile(tmp_path: Path) -> None:
    if not shutil.which("checkov", path=tool_env()["PATH"]):
        pytest.skip("checkov is not installed (`secpipe tools install checkov`)")
    root = _tree(tmp_path / "tree")
    work = tmp_path / "work"
    work.mkdir()
    outcome = Checkov().scan(_request(root, work))
    assert outcome.coverage["frameworks"] == ["dockerfile", "terraform", "openapi",
                                              "github_actions", "secrets"]
    assert outcome.coverage["dockerfiles"] == ["Containerfile", "Dockerfile_web", "docker/image"]
    findings = get_format("checkov").parse(outcome.reports[0].data, "checkov.json")
    by_path: dict[str, set[str]] = {}
    for f in findings:
        by_path.setdefault(f.location.path, set()).add(f.rule_id)
    # the workflow's script injection, and the Dockerfiles checkov cannot find by itself, at
    # their own paths (never the staging copies')
    assert "CKV_GHA_2" in by_path[".github/workflows/ci.yml"]
    assert {"Containerfile", "Dockerfile_web", "docker/image"} <= set(by_path)
    assert "CKV_DOCKER_8" in by_path["docker/image"]  # last USER root, line 4 of the original
    assert not any("/s0/" in p or "checkov-dockerfiles" in p for p in by_path)
    assert "CKV_AWS_20" in by_path["main.tf"]
    severities = {f.severity for f in findings}
    assert len(severities) >= 3
    raw = json.loads(outcome.reports[0].data)
    assert isinstance(raw, list)


@pytest.mark.tools
def test_hadolint_lints_every_dockerfile(tmp_path: Path) -> None:
    if not shutil.which("hadolint", path=tool_env()["PATH"]):
        pytest.skip("hadolint is not installed (`secpipe tools install hadolint`)")
    root = _tree(tmp_path / "tree")
    work = tmp_path / "work"
    work.mkdir()
    outcome = Hadolint().scan(_request(root, work))
    assert outcome.coverage == {"dockerfiles": ["Containerfile", "Dockerfile_web",
                                                "docker/image"]}
    findings = get_format("hadolint").parse(outcome.reports[0].data, "hadolint.json")
    assert {f.location.path for f in findings} >= {"Dockerfile_web", "Containerfile"}


@pytest.mark.tools
def test_secpipe_yml_overrides_a_checks_severity(tmp_path: Path) -> None:
    """`tools.checkov.severities` reaches the findings of a real run (the adapter applies it)."""
    if not shutil.which("checkov", path=tool_env()["PATH"]):
        pytest.skip("checkov is not installed (`secpipe tools install checkov`)")
    from secpipe.model import Severity
    from secpipe.pipeline.api import RunRequest, run_pipeline

    root = tmp_path / "tf"
    root.mkdir()
    (root / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = "b"\n'
                                  '  acl = "public-read"\n}\n')
    (root / "secpipe.yml").write_text(
        "stages:\n  iac: {tools: [checkov], fail_on: critical}\n"
        "tools:\n  checkov: {severities: {CKV_AWS_20: low, CKV2_AWS_61: critical}}\n")
    run = run_pipeline(RunRequest(root=root, use_hub=False))
    findings = {f.rule_id: f for f in run.stages[0].tools[0].findings}
    assert findings["CKV_AWS_20"].severity is Severity.LOW  # the table says CRITICAL
    assert findings["CKV2_AWS_61"].severity is Severity.CRITICAL  # the table says LOW
    assert findings["CKV2_AWS_61"].properties["severity_basis"] == (
        "secpipe.yml tools.checkov.severities")
    assert findings["CKV_AWS_18"].properties["severity_basis"].startswith("logging")
    assert run.exit_code == 1  # the override made a CRITICAL: the gate says so
    asff = json.loads((Path(run.run_dir) / "findings.asff.json").read_text())
    bases = {a["ProductFields"]["secpipe/RuleId"]: a["ProductFields"]["secpipe/severity_basis"]
             for a in asff}
    assert bases["CKV_AWS_18"].startswith("logging")
