"""Findings made field by field through their slots, not through the frozen dataclass's __init__.

A frozen slotted dataclass's __init__ sets each field with `object.__setattr__(self, name, v)`
(a global, an attribute and a name lookup per field; 23 fields on a Finding). Two places make
one Finding per finding of every run: the scan cache's hits (`scancache.store`) and the stage's
correlation (`with_issue`, every finding copied with its issue key). Calling each slot's
descriptor directly makes the same object (same fields, repr, equality and pickled state:
tests/test_scan_cache_finding_json.py, tests/pipeline/test_correlate.py) at about half
the CPU.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable

from secpipe.model.derived import held, setter
from secpipe.model.finding import Category, Finding, Location, Resource, Severity
from secpipe.model.rarefields import RARE, SLOT, rare_fields
from secpipe.model.secret import Secret

new = object.__new__


def slot_setters(cls: type, *names: str) -> list[Callable[[Any, Any], None]]:
    """The named fields' slot descriptors' __set__, in the order named. Every field must be
    named (a Finding's rarely set ones as their slot, `rarefields.SLOT`): a field added to
    the model and not here fails at import, not as a missing slot."""
    held_together = set(RARE) if SLOT in names else set()
    if set(names) - {SLOT} != {f.name for f in fields(cls)} - held_together:
        raise TypeError(f"{cls.__name__}'s fields are not {names}")
    return [setter(cls, name) for name in names]


(TOOL, RULE_ID, TITLE, SEVERITY, DESCRIPTION, CATEGORY, SEVERITY_ORIGINAL, LOCATION, RESOURCE,
 REMEDIATION, REFERENCES, CWE, SECRET, LOCATION_KEY, PROPERTIES, ISSUE_KEY,
 RARE_FIELDS) = slot_setters(
    Finding, "tool", "rule_id", "title", "severity", "description", "category",
    "severity_original", "location", "resource", "remediation", "references", "cwe", "secret",
    "location_key", "properties", "issue_key", SLOT)
#: what a finding holds in its slot of rarely set fields (model.rarefields)
HELD_RARE = Finding.__dict__[SLOT].__get__


def RELATED(f: Finding, related: tuple[str, ...]) -> None:   # noqa: N802 - a setter's name
    """Set `f.related` (held with the other rarely set fields: `model.rarefields`) as its
    slot's setter would: the correlation's, on the finding itself."""
    RARE_FIELDS(f, HELD_RARE(f).with_related(related))
LOC_PATH, LOC_START_LINE, LOC_END_LINE, LOC_SNIPPET = slot_setters(
    Location, "path", "start_line", "end_line", "snippet")
RES_TYPE, RES_ID, RES_DETAILS = slot_setters(Resource, "type", "id", "details")
SECRET_SHA256, SECRET_MASKED = slot_setters(Secret, "sha256", "masked")
# what a derived title, description or location key holds (model.derived): a copy shares it
HELD_TITLE, HELD_DESCRIPTION = held(Finding, "title"), held(Finding, "description")
HELD_LOCATION_KEY = held(Finding, "location_key")


def with_issue(f: Finding, key: str | None, related: tuple[str, ...]) -> Finding:
    """`f.with_(issue_key=key, related=related)`, keeping the fingerprint already computed
    (neither field is part of the identity) and a derived title, description or location key
    as it is (none is made from those fields)."""
    out = new(Finding)
    TOOL(out, f.tool)
    RULE_ID(out, f.rule_id)
    TITLE(out, HELD_TITLE(f))
    SEVERITY(out, f.severity)
    DESCRIPTION(out, HELD_DESCRIPTION(f))
    CATEGORY(out, f.category)
    SEVERITY_ORIGINAL(out, f.severity_original)
    LOCATION(out, f.location)
    RESOURCE(out, f.resource)
    REMEDIATION(out, f.remediation)
    REFERENCES(out, f.references)
    CWE(out, f.cwe)
    SECRET(out, f.secret)
    LOCATION_KEY(out, HELD_LOCATION_KEY(f))
    PROPERTIES(out, f.properties)
    # never changed once made: shared with the copy, unless its related Ids change
    RARE_FIELDS(out, HELD_RARE(f).with_related(related))
    ISSUE_KEY(out, key)
    return f.keep_fingerprint_in(out)


def finding(*, tool: str, rule_id: str, title: Any, severity: Severity, description: Any = "",
            category: Category = Category.MISCONFIGURATION, severity_original: str | None = None,
            location: Location | None = None, resource: Resource | None = None,
            remediation: str | None = None, remediation_url: str | None = None,
            references: tuple[str, ...] = (), cwe: tuple[str, ...] = (),
            vulnerabilities: tuple = (), secret: Secret | None = None,
            location_key: Any = None, confidence: int | None = None,
            properties: Any = None, types: tuple[str, ...] = (),
            first_observed_at: str | None = None, last_observed_at: str | None = None,
            issue_key: str | None = None, related: tuple[str, ...] = ()) -> Finding:
    """`Finding(...)` with the same keywords and defaults (`properties` None: a new dict, as
    its default factory), made through the slots: the same object at less than half the CPU
    (tests/formats/test_secret_texts.py, tests/formats/test_smaller_findings.py compare them).
    For the parsers that make one per line of a large report (secrets, checkov)."""
    out = new(Finding)
    TOOL(out, tool)
    RULE_ID(out, rule_id)
    TITLE(out, title)
    SEVERITY(out, severity)
    DESCRIPTION(out, description)
    CATEGORY(out, category)
    SEVERITY_ORIGINAL(out, severity_original)
    LOCATION(out, location)
    RESOURCE(out, resource)
    REMEDIATION(out, remediation)
    REFERENCES(out, references)
    CWE(out, cwe)
    SECRET(out, secret)
    LOCATION_KEY(out, location_key)
    PROPERTIES(out, {} if properties is None else properties)
    RARE_FIELDS(out, rare_fields(remediation_url, vulnerabilities, confidence, types,
                                 first_observed_at, last_observed_at, related))
    ISSUE_KEY(out, issue_key)
    return out


def location(path: str, start_line: int | None = None, end_line: int | None = None,
             snippet: str | None = None) -> Location:
    """`Location(...)` made through the slots (see `finding`)."""
    out = new(Location)
    LOC_PATH(out, path)
    LOC_START_LINE(out, start_line)
    LOC_END_LINE(out, end_line)
    LOC_SNIPPET(out, snippet)
    return out
