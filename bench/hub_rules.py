"""What automation rules cost an import: `bulk_import` of N findings into a fresh SQLite hub
with no rule, with R enabled rules that match nothing (each finding is checked against each
rule's criteria), and with R rules that all match (each one writes a history row and changes
the finding), then the same findings re-imported with a newer UpdatedAt (the update path,
where the rules apply again).

    PYTHONPATH=src python bench/hub_rules.py [--findings 5000] [--rules 20]

Prints seconds per import; no assertion - timings are for people.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from secpipe.hub.store import open_store
from secpipe.model import Finding, Location, Severity, SourceContext
from secpipe.model.asff import to_asff


def findings(n: int, shift: float) -> list[dict]:
    stamp = (datetime.now(timezone.utc) - timedelta(hours=shift)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    ctx = SourceContext(repo="bench", branch="main", commit="c", run_id="r", stage="sast")
    return [to_asff(Finding(tool="bandit", rule_id=f"B{i % 50}", title=f"finding {i}",
                            severity=Severity.MEDIUM, location=Location(f"src/m{i}.py", 1),
                            location_key=f"k{i}"), ctx, updated_at=stamp)
            for i in range(n)]


def rule(order: int, match: bool) -> dict:
    title = "finding " if match else "no such title "
    return {"RuleOrder": order, "RuleName": f"r{order}", "Description": "bench",
            "Criteria": {"Title": [{"Value": title, "Comparison": "PREFIX"}],
                         "SeverityLabel": [{"Value": "MEDIUM", "Comparison": "EQUALS"}]},
            "Actions": [{"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {
                "Note": {"Text": f"rule {order}", "UpdatedBy": "bench"},
                "UserDefinedFields": {"rule": str(order)}}}]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=5000)
    ap.add_argument("--rules", type=int, default=20)
    args = ap.parse_args()
    print(f"{args.findings} findings, SQLite, bulk_import (s): create / update")
    for label, count, match in (("no rules", 0, False),
                                (f"{args.rules} rules, none match", args.rules, False),
                                (f"{args.rules} rules, all match", args.rules, True)):
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(Path(tmp) / "hub.db")
            for order in range(1, count + 1):
                store.create_automation_rule(rule(order, match))
            times = []
            for shift in (2.0, 1.0):
                docs = findings(args.findings, shift)
                t0 = time.perf_counter()
                result = store.bulk_import(docs)
                times.append(time.perf_counter() - t0)
                assert not result.failed, result.failed[:1]
            store.close()
        print(f"  {label:28s} {times[0]:6.2f} / {times[1]:6.2f}")


if __name__ == "__main__":
    main()
