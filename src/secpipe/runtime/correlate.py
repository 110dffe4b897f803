"""Which pipeline run shipped the image a runtime alert came from.

A run records the images it built or deployed in the hub's `run_images` table (migration
0002): the build stage hands `outputs["image"]` on, a deploy names what it rolled out, and CI
systems can POST them to `/v1/runs/{id}/images`. An alert names its container image by
repository, tag and/or digest; the match prefers the digest (exact), then repository + tag,
then - only when the alert has neither tag nor digest - the repository alone, and among the
runs that recorded it the most recent one. How it matched travels with the finding
(`secpipe/RunMatch`: digest | tag | repository) so a reader can weigh it.

Repositories compare in Docker's normal form: `docker.io/library/nginx` == `nginx`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.engine import Connection

from secpipe.formats.falco import split_image
from secpipe.hub.common import now
from secpipe.hub.interface import InvalidInput, ResourceNotFound
from secpipe.hub.schema import run_images as RI
from secpipe.hub.schema import runs as RUNS

ROLES = ("built", "deployed")
_DOCKER_HUB = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")


def normalize_repository(repo: str) -> str:
    repo = repo.strip().lower()
    for prefix in _DOCKER_HUB:
        if repo.startswith(prefix):
            repo = repo[len(prefix):]
            break
    if repo.startswith("library/") and repo.count("/") == 1:
        repo = repo[len("library/"):]
    return repo


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str = ""
    digest: str = ""

    @classmethod
    def parse(cls, value: "str | Mapping[str, Any] | ImageRef") -> "ImageRef":
        """`repo:tag@sha256:...`, or {repository, tag, digest} / {image}."""
        if isinstance(value, ImageRef):
            return value
        if isinstance(value, Mapping):
            if value.get("image") and not value.get("repository"):
                base = cls.parse(str(value["image"]))
                return cls(base.repository, str(value.get("tag") or base.tag),
                           str(value.get("digest") or base.digest))
            return cls(normalize_repository(str(value.get("repository") or "")),
                       str(value.get("tag") or ""), str(value.get("digest") or "").lower())
        if not isinstance(value, str):
            raise InvalidInput(f"an image is a string or an object, not {type(value).__name__}")
        repo, tag, digest = split_image(value.strip())
        return cls(normalize_repository(repo), tag, digest.lower())

    def __str__(self) -> str:
        text = self.repository + (f":{self.tag}" if self.tag else "")
        return text + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class RunMatch:
    run_id: str
    commit: str
    repo: str
    branch: str
    match: str          # digest | tag | repository
    stage: str
    role: str
    image: str

    def product_fields(self) -> dict[str, str]:
        return {"secpipe/RunId": self.run_id, "secpipe/Commit": self.commit,
                "secpipe/Repo": self.repo, "secpipe/Branch": self.branch,
                "secpipe/RunMatch": self.match, "secpipe/RunImage": self.image}


def images_in_outputs(outputs: Mapping[str, Mapping[str, str]]
                      ) -> list[tuple[str, ImageRef, str]]:
    """(stage, image, role) from stage outputs: `image` is what a stage built (the build
    stage's tag), `deployed_image` what it rolled out."""
    found = []
    for stage, values in outputs.items():
        for key, role in (("image", "built"), ("deployed_image", "deployed")):
            if values.get(key):
                found.append((stage, ImageRef.parse(values[key]), role))
    return found


def record(conn: Connection, run_id: str, images: Iterable[Any], *, stage: str = "",
           role: str = "deployed") -> int:
    """Record images for a recorded run (in the caller's write transaction); returns how
    many were new. Recording the same image twice is harmless."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    if conn.execute(select(RUNS.c.seq).where(RUNS.c.run_id == run_id)).first() is None:
        raise ResourceNotFound(f"run {run_id} not found")
    refs = [ImageRef.parse(i) for i in images]
    for ref in refs:
        if not ref.repository and not ref.digest:
            raise InvalidInput(f"image {ref} names neither a repository nor a digest")
    have = {(r.repository, r.tag, r.digest) for r in conn.execute(
        select(RI.c.repository, RI.c.tag, RI.c.digest).where(RI.c.run_id == run_id,
                                                             RI.c.role == role))}
    stamp = now()
    rows = []
    for ref in dict.fromkeys(refs):
        key = (ref.repository, ref.tag, ref.digest)
        if key in have:
            continue
        have.add(key)
        rows.append({"run_id": run_id, "repository": ref.repository, "tag": ref.tag,
                     "digest": ref.digest, "stage": stage, "role": role, "recorded_at": stamp})
    if rows:
        conn.execute(RI.insert(), rows)
    return len(rows)


def record_run_images(store: Any, run_id: str, images: Iterable[Any], *, stage: str = "",
                      role: str = "deployed") -> int:
    """Store API: record what run `run_id` built or deployed (the run must be recorded)."""
    with store._write() as conn:
        return record(conn, run_id, images, stage=stage, role=role)


def list_images(conn: Connection, run_id: str) -> list[dict[str, str]]:
    q = select(RI).where(RI.c.run_id == run_id).order_by(RI.c.seq)
    return [{"image": str(ImageRef(r.repository, r.tag, r.digest)), "repository": r.repository,
             "tag": r.tag, "digest": r.digest, "stage": r.stage, "role": r.role,
             "recorded_at": r.recorded_at} for r in conn.execute(q)]


def find_run(conn: Connection, repository: str, tag: str, digest: str) -> RunMatch | None:
    """The most recent run that recorded this image (see the module's matching order)."""
    repo = normalize_repository(repository) if repository else ""
    digest = digest.lower()
    attempts = []
    if digest:
        attempts.append(("digest", RI.c.digest == digest))
    if repo and tag:
        attempts.append(("tag", (RI.c.repository == repo) & (RI.c.tag == tag)))
    if repo and not tag and not digest:
        attempts.append(("repository", RI.c.repository == repo))
    for kind, where in attempts:
        q = (select(RUNS.c.run_id, RUNS.c.commit, RUNS.c.repo, RUNS.c.branch, RI.c.stage,
                    RI.c.role, RI.c.repository, RI.c.tag, RI.c.digest)
             .select_from(RI.join(RUNS, RUNS.c.run_id == RI.c.run_id))
             .where(where).order_by(RUNS.c.seq.desc(), RI.c.seq.desc()).limit(1))
        row = conn.execute(q).first()
        if row is not None:
            return RunMatch(run_id=row.run_id, commit=row.commit, repo=row.repo,
                            branch=row.branch, match=kind, stage=row.stage, role=row.role,
                            image=str(ImageRef(row.repository, row.tag, row.digest)))
    return None


def runtime_filters(run_id: str) -> dict[str, Any]:
    """GetFindings filters for the runtime alerts tied to a run."""
    return {"ProductFields": [{"Key": "secpipe/RunId", "Value": run_id, "Comparison": "EQUALS"}],
            "GeneratorId": [{"Value": "falco/", "Comparison": "PREFIX"}]}


def run_runtime(store: Any, run_id: str, max_results: int = 100,
                next_token: str | None = None) -> dict[str, Any]:
    """Store API: a run's images and one page of the runtime alerts of what it shipped."""
    with store._read() as conn:
        if conn.execute(select(RUNS.c.seq).where(RUNS.c.run_id == run_id)).first() is None:
            raise ResourceNotFound(f"run {run_id} not found")
        images = list_images(conn, run_id)
    findings, token = store.get_findings(
        runtime_filters(run_id), [{"Field": "LastObservedAt", "SortOrder": "desc"}],
        max_results, next_token)
    return {"run_id": run_id, "images": images, "findings": findings, "next_token": token}
