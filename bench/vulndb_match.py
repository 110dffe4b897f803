"""Benchmark: import >= 100,000 OSV advisories, then match a 5,000-component SBOM against them.

    .venv/bin/python bench/vulndb_match.py [--advisories 100000] [--components 5000]

Advisories are generated from the shapes of real records (the test fixtures): GitHub's npm
records with several back-ported fix lines (qs), PyPI records with enumerated `versions`
(PyPA's PYSEC), Debian DSAs per release, Go SEMVER ranges, Maven ranges, withdrawn ones and
`last_affected` ones; a package has 3.3 advisories on average. They are written as one
OSV `all.zip` per ecosystem and imported the way `secpipe db import` does. The SBOM mixes
the same ecosystems; about half its packages have advisories, of which some versions are hit.

Reports: import wall time, match wall and CPU time (SBOM in -> findings + CycloneDX report
out; three runs, the first one cold), the load average (wall-clock figures depend on it), peak
memory of matching (tracemalloc, a separate traced run) and the process's max RSS.
Target: matching under 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from secpipe.vulndb import VulnDB, match_sbom  # noqa: E402

ECOSYSTEMS = {  # share of advisories, purl template
    "npm": (0.35, "pkg:npm/{name}@{version}"),
    "PyPI": (0.20, "pkg:pypi/{name}@{version}"),
    "Go": (0.10, "pkg:golang/github.com/bench/{name}@v{version}"),
    "Maven": (0.15, "pkg:maven/org.bench/{name}@{version}"),
    "Debian": (0.20, "pkg:deb/debian/{name}@{version}?distro=debian-12"),
}
VECTORS = ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
           "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
           "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:L",
           "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"]


def version(rng: random.Random, eco: str, major: int, minor: int, patch: int) -> str:
    if eco == "Debian":
        return f"{major}.{minor}.{patch}-{rng.randint(1, 3)}+deb12u{rng.randint(1, 4)}"
    return f"{major}.{minor}.{patch}"


def advisory(rng: random.Random, n: int, eco: str, name: str) -> dict:
    """One record in the shape of a real one of this ecosystem."""
    major = rng.randint(0, 6)
    lines = rng.choice([1, 1, 1, 2, 3, 5])  # back-ported fix lines, like qs's nine
    ranges, versions = [], []
    for line in range(lines):
        minor = line * 2
        intro = "0" if line == 0 and rng.random() < 0.5 else version(rng, eco, major, minor, 0)
        fixed = version(rng, eco, major, minor, rng.randint(1, 9))
        kind = "SEMVER" if eco == "Go" else "ECOSYSTEM"
        last = rng.random() < 0.05
        ranges.append({"type": kind, "events": [{"introduced": intro},
                                                {"last_affected" if last else "fixed": fixed}]})
        if eco == "PyPI":  # PYSEC records enumerate the versions too
            versions += [f"{major}.{minor}.{p}" for p in range(0, int(fixed.split(".")[2]))]
    pkg_eco = "Debian:12" if eco == "Debian" else eco
    gh = eco != "Debian"
    rid = f"GHSA-bench-{n:06d}" if gh else f"DSA-{n}-1"
    record = {
        "schema_version": "1.4.0", "id": rid,
        "modified": "2024-01-01T00:00:00Z", "published": "2023-06-01T00:00:00Z",
        "aliases": [f"CVE-2023-{n:05d}"], "summary": f"Benchmark advisory {n} in {name}",
        "details": "Generated for the benchmark in the shape of a real advisory. " * 3,
        "affected": [{"package": {"ecosystem": pkg_eco, "name": name}, "ranges": ranges,
                      **({"versions": versions} if versions else {})}],
        "references": [{"type": "ADVISORY", "url": f"https://example.invalid/{rid}"}],
    }
    if gh:
        record["severity"] = [{"type": "CVSS_V3", "score": rng.choice(VECTORS)}]
        record["database_specific"] = {"severity": "HIGH", "cwe_ids": ["CWE-400"]}
    if rng.random() < 0.01:
        record["withdrawn"] = "2024-02-01T00:00:00Z"
    return record


def package_name(eco: str, i: int) -> str:
    if eco == "Go":
        return f"mod{i}"
    return f"{eco.lower()}-pkg-{i}"


def generate(folder: Path, total: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    names_per_eco: dict[str, int] = {}
    counts: dict[str, int] = {}
    n = 0
    for eco, (share, _) in ECOSYSTEMS.items():
        count = int(total * share) + (1 if eco == "npm" else 0)
        names = max(1, int(count / 3.3))
        names_per_eco[eco] = names
        counts[eco] = count
        with zipfile.ZipFile(folder / f"{eco}-all.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for _ in range(count):
                n += 1
                name = package_name(eco, rng.randrange(names))
                record = advisory(rng, n, eco, name)
                zf.writestr(f"{record['id']}.json", json.dumps(record))
    (folder / "names.json").write_text(json.dumps(names_per_eco))
    return counts


def sbom(folder: Path, components: int, seed: int) -> bytes:
    rng = random.Random(seed + 1)
    names = json.loads((folder / "names.json").read_text())
    comps = []
    ecos = list(ECOSYSTEMS)
    weights = [ECOSYSTEMS[e][0] for e in ecos]
    seen = set()
    while len(comps) < components:
        eco = rng.choices(ecos, weights)[0]
        # about half the packages exist in the database, the others do not
        index = rng.randrange(names[eco] * 2)
        name = package_name(eco, index)
        ver = version(rng, eco, rng.randint(0, 6), rng.randint(0, 9), rng.randint(0, 12))
        purl = ECOSYSTEMS[eco][1].format(name=name, version=ver)
        if purl in seen:
            continue
        seen.add(purl)
        comps.append({"type": "library", "bom-ref": purl, "name": name, "version": ver,
                      "purl": purl})
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
                       "metadata": {"component": {"type": "application", "name": "bench"}},
                       "components": comps}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--advisories", type=int, default=100_000)
    parser.add_argument("--components", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="secpipe-bench-vulndb-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        counts = generate(folder, args.advisories, args.seed)
        gen_s = time.perf_counter() - t0
        db = VulnDB(folder / "vulndb.sqlite")
        t0, c0 = time.perf_counter(), time.process_time()
        imported = 0
        for eco in ECOSYSTEMS:
            imported += db.import_path(folder / f"{eco}-all.zip").imported
        import_s, import_cpu = time.perf_counter() - t0, time.process_time() - c0
        status = db.status()
        bom = sbom(folder, args.components, args.seed)
        db.close()

        runs, cpu = [], []
        for _ in range(3):
            fresh = VulnDB(folder / "vulndb.sqlite")
            t0, c0 = time.perf_counter(), time.process_time()
            scan = match_sbom(fresh, bom, "bench-sbom.json")
            runs.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            fresh.close()
        tracemalloc.start()
        traced = VulnDB(folder / "vulndb.sqlite")
        match_sbom(traced, bom, "bench-sbom.json")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        traced.close()
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        hit_packages = len({m.package.purl for m in scan.result.matches})
        print(json.dumps({
            "advisories_generated": sum(counts.values()), "per_ecosystem": counts,
            "advisories_imported": imported, "db_advisories": status.advisories,
            "db_size_mb": round(status.size_bytes / 1e6, 1),
            "generate_s": round(gen_s, 2), "import_s": round(import_s, 2),
            "import_cpu_s": round(import_cpu, 2),
            "import_advisories_per_s": round(imported / import_s),
            "sbom_components": args.components, "packages_matched": len(scan.result.packages),
            "vulnerable_packages": hit_packages, "findings": len(scan.findings),
            "report_mb": round(len(scan.report) / 1e6, 2),
            "match_wall_s": [round(r, 3) for r in runs],
            "match_cpu_s": [round(c, 3) for c in cpu],
            "load_average_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
            "match_peak_python_mb": round(peak / 1e6, 1), "process_max_rss_mb": round(rss_mb),
            "target_match_under_2s": min(runs) < 2.0,
        }, indent=2))


if __name__ == "__main__":
    main()
