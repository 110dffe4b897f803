"""checkov's JSON report (`checkov -o json`), in the three shapes checkov prints.

* one report object `{check_type, results{failed_checks, ...}, summary{...}}` when a single
  framework ran;
* a list of such objects, one per framework, when several ran;
* a bare summary `{passed, failed, skipped, parsing_errors, resource_count, checkov_version}`
  when no runner produced anything: an empty directory, or `--framework helm` without a helm
  binary. It parses to no findings, which on its own would read as a pass; so the module also
  offers :func:`scanned_resource_count`, letting the pipeline refuse a scan that looked at nothing.

Only `failed_checks` become findings: passed and skipped checks are not problems, and
`--quiet` drops those lists anyway (the parser never requires them).

Severity: checkov fills `severity` (CRITICAL/HIGH/MEDIUM/LOW/INFO) only when results are
enriched from the Prisma Cloud platform (an API key, or an older report downloaded with
guidelines); the open-source run leaves it null. A null severity then comes from secpipe's
table of every checkov check (:mod:`secpipe.formats.checkov_severity`, with its basis in the
property `severity_basis`); a check the table lacks becomes MEDIUM, the value DefectDojo also
uses, because every failed check is a real misconfiguration. `severity_original` keeps
checkov's word (None when checkov gave none) so a reader can tell a stated severity from ours.

Secrets (`check_type` "secrets", `CKV_SECRET_*`): checkov reports the SHA-1 of the value as the
`resource` and masks the value in `code_block`. The hash becomes the finding's Secret; code lines
are never copied. Code blocks of other checks are not copied either: an IaC resource's block
routinely holds a credential (the very thing CKV_SECRET_* flags) in clear.

`guideline` is a link for checkov's own checks (the remediation URL) and free text for custom
checks such as secpipe's Istio ones: text becomes the remediation, its first link the URL.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator, Mapping, Sequence

from secpipe.formats._common import (
    as_int, dig, expect, load_json, objects, read_walking, shared, shared_location,
    shared_mapping, shared_resource, text,
)
from secpipe.formats._jsonwalk import JsonCursor, Unwalkable
from secpipe.formats.checkov_severity import resolve
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Category, Finding, Secret, Severity, Vulnerability
from secpipe.model import slots
from secpipe.model.derived import DerivedText

TOOL = "checkov"
DEFAULT_SEVERITY = Severity.MEDIUM
_SUMMARY_KEYS = frozenset(
    {"passed", "failed", "skipped", "parsing_errors", "resource_count", "checkov_version"}
)
_HEX_DIGEST = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_URL = re.compile(r"https?://[^\s)>\]]+")


def _reports(doc: Any, source: str) -> list[Mapping[str, Any]]:
    """The report objects of a document ([] for a bare summary); raise when it is not checkov."""
    if isinstance(doc, dict):
        if _is_bare_summary(doc):
            return []
        return [_check_report(doc, source, "the report")]
    if isinstance(doc, list):
        if not doc:
            raise ReportFormatError(
                source, "an empty array is not a checkov report (checkov prints a summary "
                "object when it scanned nothing)")
        return [_check_report(item, source, f"report[{i}]")
                for i, item in enumerate(objects(doc, source, "the report list"))]
    raise ReportFormatError(
        source, f"a checkov report is an object or an array of objects, got {type(doc).__name__}")


def _is_bare_summary(doc: Mapping[str, Any]) -> bool:
    """The summary checkov prints alone; tolerant of keys a later version may add."""
    return ("results" not in doc and "check_type" not in doc and "checkov_version" in doc
            and len(_SUMMARY_KEYS & doc.keys()) >= 3)


def _check_report(rep: Mapping[str, Any], source: str, what: str) -> Mapping[str, Any]:
    if "results" not in rep or "check_type" not in rep:
        raise ReportFormatError(
            source, f"{what} is not a checkov report: it needs 'check_type' and 'results'")
    expect(rep["results"], dict, source, f"{what}.results")
    return rep


def parse(data: bytes, source: str = "<checkov>") -> Sequence[Finding]:
    """The findings of a report read item by item (:func:`_walk`: a 9.4 MB report is never
    ~45 MB of decoded objects at once); a document that reading refuses is read whole by
    :func:`parse_document`, as every report was before."""
    return read_walking(data, source, lambda cursor: _walk(cursor, source),
                        lambda doc: parse_document(doc, source))


def parse_document(doc: Any, source: str) -> list[Finding]:
    """The findings of a whole decoded report: the reading every report had before
    :func:`_walk`, and still the one that names what is wrong with a report."""
    findings: list[Finding] = []
    for index, rep in enumerate(_reports(doc, source)):
        check_type = text(rep.get("check_type"), "unknown")
        version = text(dig(rep, "summary", "checkov_version"))
        failed = rep["results"].get("failed_checks")
        what = f"report[{index}].results.failed_checks"
        for i, item in enumerate(objects(failed, source, what)):
            findings.append(_finding(item, check_type, version, source, f"{what}[{i}]"))
    return findings


def _walk(cursor: JsonCursor, source: str) -> list[Finding]:
    """`parse_document`'s findings, each failed check decoded on its own. Raises (and
    `parse` then reads the document whole) wherever `parse_document` would raise, and on
    shapes this reading leaves to it: a repeated `results`, `check_type` or `failed_checks`
    key (json.loads keeps the last one)."""
    findings: list[Finding] = []
    if cursor.peek() == "{":
        _walk_report(cursor, source, 0, findings, alone=True)
    elif cursor.peek() == "[":
        count = 0
        for index in cursor.items():
            if cursor.peek() != "{":
                raise Unwalkable("a report that is no object")
            _walk_report(cursor, source, index, findings, alone=False)
            count += 1
        if not count:
            raise Unwalkable("an empty report list")
    else:
        raise Unwalkable("neither an object nor an array")
    cursor.end()
    return findings


def _walk_report(cursor: JsonCursor, source: str, index: int, findings: list[Finding],
                 alone: bool) -> None:
    """One report object's findings onto `findings`, in any order of its keys. Its
    `check_type` usually comes before `results` and its summary (checkov_version, on every
    finding's properties) after: the version is added when the object ends
    (:class:`_VersionLater`); failed checks read before any `check_type` wait, decoded, for
    the object's end."""
    keys: set[str] = set()
    check_type: str | None = None
    summary: Any = None
    waiting: list[tuple[int, Any]] = []
    version_later = _VersionLater()
    what = f"report[{index}].results.failed_checks"
    for key in cursor.members():
        if key in keys and key in ("results", "check_type"):
            raise Unwalkable(f"a repeated {key!r}")
        keys.add(key)
        if key == "check_type":
            check_type = text(cursor.value(), "unknown")
        elif key == "summary":
            summary = cursor.value()
        elif key != "results":
            cursor.skip()
        else:
            for i, item in _failed_checks(cursor):
                if check_type is None:
                    waiting.append((i, item))
                else:
                    findings.append(_finding(item, check_type, "", source, f"{what}[{i}]",
                                             version_later))
    if alone and _is_bare_summary(dict.fromkeys(keys)):
        return
    if "results" not in keys or check_type is None:
        raise Unwalkable("not a checkov report")   # parse_document names what is missing
    for i, item in waiting:
        findings.append(_finding(item, check_type, "", source, f"{what}[{i}]", version_later))
    version_later.close(text(dig(summary, "checkov_version")))


def _failed_checks(cursor: JsonCursor) -> Iterator[tuple[int, Any]]:
    """(index, item) of a `results` object's `failed_checks`, one item decoded at a time; its
    other lists (passed and skipped checks, parsing errors) are read past."""
    seen = False
    if cursor.peek() != "{":
        raise Unwalkable("'results' is no object")
    for key in cursor.members():
        if key != "failed_checks":
            cursor.skip()
            continue
        if seen:
            raise Unwalkable("a repeated 'failed_checks'")
        seen = True
        yield from cursor.objects()


class _VersionLater:
    """The properties of one report object's findings, one dict per distinct set (as
    `shared_mapping` gives), made before the object's summary is read: `close` adds
    `checkov_version` to each, last as `_finding` puts it, before any finding leaves `parse`.
    Equal findings either way; only their dicts are shared per report object rather than
    across reports (a few dicts more)."""

    def __init__(self) -> None:
        self._dicts: dict[tuple, dict[str, str]] = {}

    def __call__(self, properties: dict[str, str]) -> dict[str, str]:
        return self._dicts.setdefault(tuple(properties.items()), properties)

    def close(self, version: str) -> None:
        if version:
            for properties in self._dicts.values():
                properties["checkov_version"] = version


def _finding(item: Mapping[str, Any], check_type: str, version: str, source: str,
             what: str, share: Callable[[dict[str, str]], Mapping[str, str]] = shared_mapping,
             ) -> Finding:
    check_id = shared(text(item.get("check_id")))
    if not check_id:
        raise ReportFormatError(source, f"{what} has no 'check_id'")
    # one object per distinct text: checks, names and files repeat (formats._common.shared)
    name = shared(text(item.get("check_name"), check_id))
    path = shared(text(item.get("file_path")).replace("\\", "/").lstrip("/") or ".")
    start, end = _line_range(item.get("file_line_range"))
    resource_name = text(item.get("resource"))
    raw_severity = text(item.get("severity")) or None
    # checkov's own severity, else secpipe's table (checkov_severity), with the basis
    severity, basis = resolve(check_id, raw_severity, DEFAULT_SEVERITY)
    is_secret = check_type == "secrets" or check_id.startswith("CKV_SECRET_")
    vuln = _vulnerability(item.get("vulnerability_details"))
    category = (Category.SECRET if is_secret
                else Category.VULNERABILITY if vuln else Category.MISCONFIGURATION)

    secret = None
    if is_secret and _HEX_DIGEST.match(resource_name):
        # checkov's secrets runner names the resource by the value's SHA-1 (detect-secrets').
        secret = Secret.from_hash(resource_name,
                                  algorithm="sha1" if len(resource_name) == 40 else "sha256")
        # the SHA-1 is a dictionary oracle: the resource and identity name the keyed digest
        resource_name = f"secret:{secret.sha256[:32]}"

    properties = {"check_type": check_type, "severity_basis": basis}
    for key, prop in (("bc_check_id", "bc_check_id"), ("bc_category", "bc_category"),
                      ("check_class", "check_class"), ("resource_address", "resource_address")):
        value = text(item.get(key))
        if value:
            properties[prop] = shared(value)
    if version:
        properties["checkov_version"] = version

    remediation, link = _guideline(text(item.get("guideline")))
    description_lines = [name]
    short = text(item.get("description")) or text(item.get("short_description"))
    if short and short != name:
        description_lines.append(short)
    if resource_name and not secret:
        description_lines.append(f"Resource: {resource_name}")
    description_lines.append(f"Framework: {check_type}")
    if not is_secret:
        raw_details = item.get("details")
        details = [text(d) for d in raw_details if text(d)] if isinstance(raw_details, list) else []
        description_lines.extend(details[:10])

    return slots.finding(   # Finding(...) through the slots, at less than half the CPU
        tool=TOOL,
        rule_id=check_id,
        title=name,
        # made when read from the title and resource when it is only those and the framework
        description=(_check_text(check_type)  # type: ignore[arg-type]  # reads as its text
                     if resource_name and not secret and len(description_lines) == 3
                     else "\n".join(description_lines)),
        severity=severity,
        severity_original=raw_severity,
        category=category,
        location=shared_location(path, start, end),   # a resource's checks share its place
        # the same few details and properties on every finding: one dict each
        resource=shared_resource("Other", resource_name or path, {"framework": check_type}),
        remediation=remediation,
        remediation_url=link,
        vulnerabilities=(vuln,) if vuln else (),
        secret=secret,
        # made when read from the rule, resource and path it names (`CheckKey`)
        location_key=_CHECK_KEY if resource_name else f"{check_id}||{path}",  # type: ignore
        properties=share(properties),
    )


class CheckKey(DerivedText):
    """A check's `location_key`, `<check id>|<resource>|<path>`, made when read from the
    finding's rule id, resource id and path (`model.derived`), which `_finding` sets to
    exactly those texts when the check names its resource: held, each key was about 100 bytes
    (1.2 MB at 12,500 findings, alive from the parse to the run's end) for a text read about
    three times (identity, ASFF, the scan cache's entry, which holds the text)."""

    __slots__ = ()

    def render(self, finding: Finding, field: str) -> str:
        return f"{finding.rule_id}|{finding.resource.id}|{finding.location.path}"  # type: ignore


_CHECK_KEY = CheckKey()


class CheckText(DerivedText):
    """A check's description when it is only `<check name>\nResource: <resource>\nFramework:
    <framework>`, made when read from the finding's title and resource id (`model.derived`;
    `_finding` sets them to exactly those texts): held, about 140 bytes a finding, each
    naming its own resource (1.7 MB at 12,500 findings, alive from the parse to the run's
    end), for a text read about four times. One per framework (`_check_text`).

    No `__slots__`: the scan cache writes a derived text it cannot make again from its
    slots as the finding's text (`scancache.lines._state`), so a check's entry is the same
    bytes as when the description was held."""

    def __init__(self, framework: str) -> None:
        self.tail = f"\nFramework: {framework}"

    def render(self, finding: Finding, field: str) -> str:
        return f"{finding.title}\nResource: {finding.resource.id}{self.tail}"  # type: ignore


# CheckText by framework; emptied past _TEXTS_MAX (a report of ever new frameworks)
_TEXTS: dict[str, CheckText] = {}
_TEXTS_MAX = 256


def _check_text(framework: str) -> CheckText:
    found = _TEXTS.get(framework)
    if found is None:
        if len(_TEXTS) >= _TEXTS_MAX:
            _TEXTS.clear()
        found = _TEXTS[framework] = CheckText(framework)
    return found


def _guideline(value: str) -> tuple[str | None, str | None]:
    """(remediation text, link). checkov's own checks put a bare link in `guideline`; custom
    checks (secpipe's CKV_SECPIPE_ISTIO_*) put the remediation text there, ending with a link."""
    if not value:
        return None, None
    if _URL.fullmatch(value):
        return None, value
    found = _URL.search(value)
    return value, found.group(0).rstrip(".,;") if found else None


def _line_range(value: Any) -> tuple[int | None, int | None]:
    """checkov writes [0, 0] for whole-file checks (Dockerfile USER): no line, not line 0."""
    if not isinstance(value, list) or not value:
        return None, None
    start = as_int(value[0])
    end = as_int(value[-1])
    start = start if start and start > 0 else None
    end = end if end and end > 0 and start else start
    return start, end


def _vulnerability(details: Any) -> Vulnerability | None:
    """SCA results (`sca_package`, `sca_image`) carry the CVE in `vulnerability_details`."""
    if not isinstance(details, Mapping):
        return None
    vid = text(details.get("id")) or text(details.get("cve_id"))
    if not vid:
        return None
    score = details.get("cvss")
    fixed = text(details.get("lowest_fixed_version")) or text(details.get("fixed_version"))
    link = text(details.get("link"))
    return Vulnerability(
        id=vid,
        package=text(details.get("package_name")) or None,
        version=text(details.get("package_version")) or None,
        fixed_version=fixed or None,
        cvss_score=float(score) if isinstance(score, (int, float)) else None,
        cvss_vector=text(details.get("vector")) or None,
        urls=(link,) if link else (),
    )


def scanned_resource_count(data: bytes, source: str = "<checkov>") -> int | None:
    """How many resources checkov says it scanned, summed over frameworks.

    0 means checkov looked at nothing (the bare summary, or reports whose summaries all say 0):
    the pipeline should treat that as an error, not a pass. None means the report does not say
    (checkov before 2.0 wrote no `resource_count`). Raises ReportFormatError like :func:`parse`.
    """
    doc = load_json(data, source)
    if isinstance(doc, dict) and _is_bare_summary(doc):
        return as_int(doc.get("resource_count"))
    counts = [as_int(dig(rep, "summary", "resource_count")) for rep in _reports(doc, source)]
    known = [c for c in counts if c is not None]
    return sum(known) if known else None


def _looks_like_report(obj: Any) -> bool:
    return (isinstance(obj, dict) and "check_type" in obj and isinstance(obj.get("results"), dict)
            and ("summary" in obj or "failed_checks" in obj["results"]))


def sniff(doc: Document) -> bool:
    data = doc.json
    if isinstance(data, dict):
        return _looks_like_report(data) or _is_bare_summary(data)
    if isinstance(data, list) and data:
        return all(_looks_like_report(item) for item in data)
    return False


FORMAT = ReportFormat(name="checkov", title="checkov JSON (-o json)", parse=parse, sniff=sniff)
