"""What conformance costs: OCSF conversion and the output-shape cut of GetFindings answers.

- asff_to_ocsf and the OCSF parser (ocsf_to_asff + from_asff) over realistic findings (the
  grype fixture's 327 CVE findings and the example's checkov/detect-secrets findings, repeated);
- `shapes.conform("GetFindings", page)` on a 100-finding page as the hub stores findings
  (FindingProviderFields included), i.e. the per-request cost the hub adds to GetFindings.

    PYTHONPATH=src .venv/bin/python bench/conformance.py
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from secpipe.formats import get_format
from secpipe.hub.api.shapes import conform
from secpipe.hub.validate import check
from secpipe.model import SourceContext, to_asff
from secpipe.model.ocsf import asff_to_ocsf
from secpipe.pipeline.identity import assign_identities

ROOT = Path(__file__).resolve().parents[1]
REPORTS = [("checkov", ROOT / "tests/fixtures/checkov/example-web.json"),
           ("detect-secrets", ROOT / "tests/fixtures/detect-secrets/example-web.json"),
           ("ecr", ROOT / "tests/fixtures/ecr/enhanced.json"),
           ("grype", ROOT.parent / "shared/fixtures/anchore_grype/many_vulns3.json")]


def findings() -> list[dict]:
    ctx = SourceContext(repo="bench", branch="main", run_id="bench", stage="scan")
    out = []
    for fmt, path in REPORTS:
        if path.is_file():
            out += [to_asff(f, ctx) for f in
                    assign_identities(get_format(fmt).parse(path.read_bytes(), path.name))]
    return out


def timed(fn, repeat: int = 5) -> float:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


def main() -> None:
    base = findings()
    batch = (base * (10_000 // len(base) + 1))[:10_000]
    events: list[dict] = []
    t = timed(lambda: events.__setitem__(slice(None), [asff_to_ocsf(a) for a in batch]), 3)
    print(f"asff_to_ocsf: {len(batch)} findings in {t * 1000:.0f} ms "
          f"({len(batch) / t:,.0f} findings/s)")
    data = json.dumps(events).encode()
    parser = get_format("ocsf")
    t = timed(lambda: parser.parse(data, "bench.ocsf.json"), 3)
    print(f"ocsf parser: {len(events)} events ({len(data) / 1e6:.1f} MB) in {t * 1000:.0f} ms "
          f"({len(events) / t:,.0f} events/s)")
    stored = [check(a) for a in batch[:100]]   # as the hub stores them: FindingProviderFields
    for doc in stored:
        doc["ProcessedAt"] = doc["UpdatedAt"]
    page = {"Findings": stored, "NextToken": "x"}
    t = timed(lambda: conform("GetFindings", page), 50)
    print(f"conform(GetFindings): a {len(stored)}-finding page in {t * 1000:.2f} ms")


if __name__ == "__main__":
    main()
