"""Canary secrets, new for every run, of every kind the secrets stage detects, and a repository
that holds them in its working tree and in its history; plus the scanner that looks for them.

A canary counts as leaked when any of its forms appears in a byte string: the value itself,
its JSON-escaped form, its URL-encoded form, and for a private key each line of its body.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Canary:
    kind: str
    value: str
    where: str        # the file it is planted in
    history_only: bool = False

    def forms(self) -> list[bytes]:
        """Every spelling of the value a leak could take on disk or on the wire."""
        out = {self.value, json.dumps(self.value)[1:-1], quote(self.value, safe="")}
        if "\n" in self.value:   # a key block: each body line on its own is the secret too
            out |= {line for line in self.value.splitlines()
                    if len(line) >= 16 and not line.startswith("-----")}
        return [f.encode() for f in out if len(f) >= 16]

    def hashes(self) -> set[str]:
        """How a finding may identify the value: sha256 (secpipe), sha1 (detect-secrets)."""
        return {hashlib.sha256(self.value.encode()).hexdigest(),
                hashlib.sha1(self.value.encode()).hexdigest()}


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_canaries(seed: int | None = None) -> list[Canary]:
    rng = random.Random(seed)
    key_lines = [base64.b64encode(rng.randbytes(48)).decode() for _ in range(12)]
    private_key = "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *key_lines,
                             "-----END RSA PRIVATE KEY-----"])
    jwt = ".".join([_b64url(b'{"alg":"HS256","typ":"JWT"}'),
                    _b64url(json.dumps({"sub": _pick(rng, _ALNUM, 12), "admin": True}).encode()),
                    _b64url(rng.randbytes(32))])
    return [
        Canary("aws-access-key-id", "AKIA" + _pick(rng, _B32, 16), "config/settings.py"),
        Canary("aws-secret-access-key", _pick(rng, _ALNUM + "/+", 40), "config/settings.py"),
        Canary("password", _pick(rng, _ALNUM, 14) + "!9Qz", "config/settings.py"),
        Canary("hex-high-entropy", _pick(rng, "0123456789abcdef", 48), "config/settings.py"),
        Canary("private-key", private_key, "deploy/id_rsa"),
        Canary("github-token", "ghp_" + _pick(rng, _ALNUM, 36), "web/tokens.js"),
        Canary("slack-token", f"xoxb-{rng.randint(10**10, 10**11)}-{rng.randint(10**11, 10**12)}-"
                              + _pick(rng, _ALNUM, 24), "web/tokens.js"),
        Canary("stripe-key", "sk_live_" + _pick(rng, _ALNUM, 24), "web/tokens.js"),
        Canary("jwt", jwt, "web/tokens.js"),
        Canary("base64-high-entropy", base64.b64encode(rng.randbytes(33)).decode(),
               "web/tokens.js"),
        Canary("basic-auth-password", _pick(rng, _ALNUM, 18), "web/db.js"),
        Canary("dockerfile-env-secret", _pick(rng, _ALNUM, 32), "Dockerfile"),
        Canary("aws-access-key-id", "AKIA" + _pick(rng, _B32, 16), "old/creds.py", True),
        Canary("aws-secret-access-key", _pick(rng, _ALNUM + "/+", 40), "old/creds.py", True),
        Canary("github-token", "ghp_" + _pick(rng, _ALNUM, 36), "old/creds.py", True),
    ]


def _files(canaries: list[Canary], history: bool) -> dict[str, str]:
    by = {(c.kind, c.history_only): c.value for c in canaries}
    if history:
        return {"old/creds.py":
                f'AWS_ACCESS_KEY_ID = "{by["aws-access-key-id", True]}"\n'
                f'aws_secret_access_key = "{by["aws-secret-access-key", True]}"\n'
                f'GITHUB_TOKEN = "{by["github-token", True]}"\n'}
    v = {k: val for (k, h), val in by.items() if not h}
    return {
        "config/settings.py":
            f'AWS_ACCESS_KEY_ID = "{v["aws-access-key-id"]}"\n'
            f'aws_secret_access_key = "{v["aws-secret-access-key"]}"\n'
            f'password = "{v["password"]}"\n'
            f'SESSION_SECRET = "{v["hex-high-entropy"]}"\n',
        "deploy/id_rsa": v["private-key"] + "\n",
        "web/tokens.js":
            f'const github = "{v["github-token"]}";\n'
            f'const slack = "{v["slack-token"]}";\n'
            f'const stripe = "{v["stripe-key"]}";\n'
            f'const session = "{v["jwt"]}";\n'
            f'const signingKey = "{v["base64-high-entropy"]}";\n',
        "web/db.js":
            f'const url = "postgres://app:{v["basic-auth-password"]}@db.internal:5432/app";\n',
        "Dockerfile": "FROM node:20-alpine\n"
                      f'ENV API_SECRET_KEY="{v["dockerfile-env-secret"]}"\n'
                      "COPY . /app\nCMD [\"node\", \"/app/web/tokens.js\"]\n",
        "k8s/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
                           "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n"
                           "    metadata: {labels: {app: web}}\n    spec:\n      containers:\n"
                           "      - name: web\n        image: node:20-alpine\n        env:\n"
                           f"        - {{name: STRIPE_KEY, value: \"{v['stripe-key']}\"}}\n",
    }


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=ci@example.invalid",
                    "-c", "user.name=ci", "-c", "commit.gpgsign=false", *args], check=True,
                   capture_output=True)


def plant(repo: Path, canaries: list[Canary]) -> None:
    """A git repository: the history-only canaries committed then deleted, the rest committed
    and in the working tree."""
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    for rel, text in _files(canaries, history=True).items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "credentials, by mistake")
    for rel in _files(canaries, history=True):
        (repo / rel).unlink()
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "remove the credentials")
    for rel, text in _files(canaries, history=False).items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "the service")


@dataclass
class Leak:
    canary: Canary
    place: str
    offset: int


def leaks_in(data: bytes, place: str, canaries: Iterable[Canary]) -> list[Leak]:
    found = []
    for canary in canaries:
        for form in canary.forms():
            at = data.find(form)
            if at >= 0:
                found.append(Leak(canary, place, at))
                break
    return found
