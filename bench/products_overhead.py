"""What the product registry costs an import: the registered-names lookup in `normalize` and the
subscription check (`subscriptions.screen`), per 5,000 findings, in CPU time, against the
per-finding checks they join (`importer.check_all`) for scale.

    PYTHONPATH=src .venv/bin/python bench/products_overhead.py
"""

from __future__ import annotations

import time
from typing import Callable

from secpipe.hub import importer, subscriptions, validate
from secpipe.hub.store import open_store
from secpipe.model import Finding, Location, Severity, SourceContext, to_asff

N = 5000


def cpu_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best * 1000


def main() -> None:
    ctx = SourceContext(repo="bench", branch="main", commit="c0ffee", run_id="r", stage="sast",
                        tool_version="1")
    docs = [to_asff(Finding(tool="bandit", rule_id="B101", title=f"assert #{n}",
                            severity=Severity.MEDIUM, location=Location(f"src/m{n}.py", n),
                            location_key=f"bench-{n}"), ctx) for n in range(N)]
    with_lookup = cpu_ms(lambda: [validate.normalize(d) for d in docs])
    real = validate.registered_names
    validate.registered_names = lambda arn: {}          # type: ignore[assignment]
    without = cpu_ms(lambda: [validate.normalize(d) for d in docs])
    validate.registered_names = real
    print(f"normalize x{N}: {without:.1f} ms CPU without the registry lookup, "
          f"{with_lookup:.1f} ms with")
    good, _ = importer.check_all(docs)
    store = open_store("sqlite://")
    try:
        with store._read() as conn:
            own = cpu_ms(lambda: subscriptions.screen(conn, good, "000000000000", "us-east-1"))
            for item in good:
                item.doc["ProductArn"] = "arn:aws:securityhub:us-east-1::product/aws/guardduty"
            aws = cpu_ms(lambda: subscriptions.screen(conn, good, "000000000000", "us-east-1"))
    finally:
        store.close()
    print(f"subscriptions.screen x{N}: {own:.1f} ms CPU (the account's own product), "
          f"{aws:.1f} ms (aws/guardduty: one subscription query)")
    print(f"importer.check_all x{N}, for scale: {cpu_ms(lambda: importer.check_all(docs), 3):.0f}"
          " ms CPU")


if __name__ == "__main__":
    main()
