"""Where cached scan results live, and how a Finding survives the trip to disk and back.

The cache holds only what parsing already produced: Findings (whose secrets are a digest and a
masked form, never the value) and raw reports and tool logs as the run writes them to raw/ and
logs/, scrubbed of every value any tool of the run saw; a run's entries are written after its
scrub (`deferred.py`). Entries are JSON files named by the digest of their key, written atomically (temp file +
rename), so concurrent runs never read half an entry and a crash leaves no torn one; an entry
that does not read back is treated as a miss, never as "no findings".
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Mapping

from secpipe.model import Category, Finding, Location, Resource, Secret, Severity, slots
from secpipe.model.derived import DerivedText
from secpipe.model.finding import Vulnerability
from secpipe.model.rarefields import rare_fields
from secpipe.paths import from_env_or_cache
from secpipe.scancache import jsonout
from secpipe.scanners.interface import RawReport

# 3: entries scrubbed of every value of the run, written after its scrub (`deferred.py`)
SCHEMA = 3  # bump when the entry layout or the meaning of a key changes

#: inside a tool's digest (`deferred.writing`), what takes the cache's writes until the run's
#: scrub: `path(final)` gives where an entry is written meanwhile, `put_reports(tool, reports)`
#: notes reports to store then
DEFERRAL: ContextVar[Any] = ContextVar("secpipe_scan_cache_deferral", default=None)


def cache_root() -> Path:
    """$SECPIPE_SCAN_CACHE, else `scan-cache` under secpipe's cache dir."""
    return from_env_or_cache("SECPIPE_SCAN_CACHE", "scan-cache")


def digest(parts: Any) -> str:
    """A stable digest of any JSON-able key (dict keys sorted)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def clear(root: Path | None = None) -> int:
    """Remove every cached entry; returns how many entry files were removed."""
    root = root or cache_root()
    if not root.exists():
        return 0
    count = sum(1 for p in root.rglob("*.json*") if p.is_file())   # .json and .jsonl
    shutil.rmtree(root)
    return count


def read_entry(tool: str, key: str, root: Path | None = None) -> dict[str, Any] | None:
    """The entry, or None (missing, damaged or of another schema: a miss)."""
    path = _entry_path(tool, key, root)
    try:
        data = _loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # a damaged entry is a miss: the tool runs again
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None


# an integer orjson would read as a float (below -2**63 or above 2**64 - 1), or a string's
# digits that look like one (a digest's): such an entry is json's to read. Found as runs in the
# entry's bytes with digits mapped to "0" and all but "-" to " " (a regex took ~10 ms a MB).
_DIGITS = bytes(48 if 48 <= i <= 57 else 45 if i == 45 else 32 for i in range(256))
_NEGATIVE_LONG, _LONG = b"-" + b"0" * 19, b"0" * 20


def _loads(raw: bytes) -> Any:
    """`json.loads(raw.decode("utf-8"))`, with orjson where it reads the same (a third of
    json's CPU: checkov's 1,770 cached findings and the manifest's 3,000 stats, every run).
    orjson differs only on integers beyond 64 bits, which `_LONG` and `_NEGATIVE_LONG` leave
    to json, and on what it refuses (lone surrogates, NaN, 1e400, ...), which json then
    reads (tests/test_scan_cache_jsonout.py compares them)."""
    import orjson

    shape = raw.translate(_DIGITS)
    if _LONG not in shape and _NEGATIVE_LONG not in shape:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw.decode("utf-8"))


_FAILED = threading.local()


def write_failures() -> list[str]:
    """Why this thread's entry writes failed since the last call (then forgotten)."""
    failed = getattr(_FAILED, "messages", [])
    _FAILED.messages = []
    return failed


def write_entry(tool: str, key: str, entry: Mapping[str, Any], root: Path | None = None) -> None:
    """Write atomically; lists given as `jsonout.Each` and reports as `jsonout.Text` are
    written element by element (reads back as lists and strings). A cache that cannot be
    written (full disk, read-only home) costs only the next run's speed, never this run's
    result: the failure is kept for the tool's log (`write_failures`), not raised."""
    # not json.dump (the pure-Python encoder, 5-10x slower) nor one json.dumps string:
    # jsonout walks the entry's Each lists and Text reports piece by piece
    _write_atomic(_entry_path(tool, key, root),
                  lambda fh: jsonout.dump({"schema": SCHEMA, **entry}, fh), binary=False)


def _write_atomic(path: Path, write: Callable[[IO[Any]], object], *, binary: bool) -> bool:
    """`write` into a temp file renamed to `path` (never a half-written file under its name);
    a failure is kept for `write_failures`. Whether it was written. Inside a tool's digest
    the file is written where `DEFERRAL` says, not in the cache (`deferred.py`)."""
    deferral = DEFERRAL.get()
    if deferral is not None:
        path = deferral.path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    except OSError as exc:
        _FAILED.messages = [*getattr(_FAILED, "messages", []), f"{path.parent}: {exc}"]
        return False
    try:
        with (os.fdopen(fd, "wb") if binary else
              os.fdopen(fd, "w", encoding="utf-8", buffering=1 << 20)) as fh:
            write(fh)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        _FAILED.messages = [*getattr(_FAILED, "messages", []), f"{path}: {exc}"]
        return False
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _entry_path(tool: str, key: str, root: Path | None) -> Path:
    safe_tool = "".join(c if c.isalnum() or c in "-_." else "_" for c in tool)
    return (root or cache_root()) / f"v{SCHEMA}" / safe_tool / key[:2] / f"{key}.json"


# --- Findings <-> JSON ----------------------------------------------------------------------


def finding_to_json(f: Finding, derived: Callable[[DerivedText], Any] | None = None
                    ) -> dict[str, Any]:
    """The finding as JSON. A title or description the finding derives (`model.derived`) is
    written as its text, or as what `derived` makes of its DerivedText when given and not None
    (its number in the entry's table of them, `lines.py`)."""
    loc = f.location
    res = f.resource
    rare = f.rare   # the rarely set fields, read in their slots (model.rarefields)
    title = description = None
    if derived is not None:
        held = slots.HELD_TITLE(f)
        title = derived(held) if isinstance(held, DerivedText) else None
        held = slots.HELD_DESCRIPTION(f)
        description = derived(held) if isinstance(held, DerivedText) else None
    return {
        "tool": f.tool, "rule_id": f.rule_id, "title": f.title if title is None else title,
        "severity": int(f.severity),
        "description": f.description if description is None else description,
        "category": f.category.value,
        "severity_original": f.severity_original,
        "location": None if loc is None else [loc.path, loc.start_line, loc.end_line, loc.snippet],
        "resource": None if res is None else [res.type, res.id, dict(res.details)],
        "remediation": f.remediation, "remediation_url": rare.remediation_url,
        "references": list(f.references), "cwe": list(f.cwe),
        "vulnerabilities": [_vuln_to_json(v) for v in rare.vulnerabilities],
        "secret": None if f.secret is None else [f.secret.sha256, f.secret.masked],
        "location_key": f.location_key, "confidence": rare.confidence,
        "properties": dict(f.properties), "types": list(rare.types),
        "issue_key": f.issue_key, "related": list(rare.related),
    }


class Kept:
    """How `finding_from_json` keeps what it reads: as it is (this class), or shared between
    findings (`lines.Shared`: a cache hit's findings then hold one object for every equal
    text, list and mapping, as the parser's own do)."""

    __slots__ = ()

    def text(self, value: Any) -> Any:
        """A text field that repeats across findings (a tool, rule, path, remediation)."""
        return value

    def seq(self, value: list) -> tuple:
        return tuple(value)

    def mapping(self, value: Mapping[str, Any]) -> dict[str, Any]:
        return dict(value)

    def derived(self, value: Any) -> Any:
        """A title or description as written by `finding_to_json`: the text itself here."""
        return value


_AS_IS = Kept()


def finding_from_json(d: Mapping[str, Any], kept: Kept = _AS_IS) -> Finding:
    """`finding_to_json`'s inverse: the Finding its keyword __init__ would build from `d`
    (tests/test_scan_cache_finding_json.py compares them), made through the slots (see
    `model/slots.py`). A cache hit rebuilds every cached finding on every run (1,770 of
    checkov's on the generated repository): ~2.5 against ~6.5 us each. `kept` says whether
    equal values are shared (equal findings either way)."""
    loc, res, sec = d["location"], d["resource"], d["secret"]
    text, seq = kept.text, kept.seq
    f = slots.new(Finding)
    slots.TOOL(f, text(d["tool"]))
    slots.RULE_ID(f, text(d["rule_id"]))
    slots.TITLE(f, kept.derived(d["title"]))
    sev = d["severity"]
    slots.SEVERITY(f, _SEVERITIES[sev] if sev in _SEVERITIES else Severity(sev))
    slots.DESCRIPTION(f, kept.derived(d["description"]))
    cat = d["category"]
    slots.CATEGORY(f, _CATEGORIES[cat] if cat in _CATEGORIES else Category(cat))
    slots.SEVERITY_ORIGINAL(f, text(d["severity_original"]))
    slots.LOCATION(f, None if loc is None else _location(loc, text))
    slots.RESOURCE(f, None if res is None else _resource(res, kept))
    slots.REMEDIATION(f, text(d["remediation"]))
    slots.REFERENCES(f, seq(d["references"]))
    slots.CWE(f, seq(d["cwe"]))
    vulns = d["vulnerabilities"]
    slots.SECRET(f, None if sec is None else _secret(sec))
    slots.LOCATION_KEY(f, d["location_key"])
    slots.PROPERTIES(f, kept.mapping(d["properties"]))
    # the rarely set fields, in one slot (model.rarefields); the observed times are not
    # kept in the cache: scans have none
    slots.RARE_FIELDS(f, rare_fields(
        text(d["remediation_url"]), tuple(_vuln_from_json(v) for v in vulns) if vulns else (),
        d["confidence"], seq(d["types"]), None, None, tuple(d["related"])))
    slots.ISSUE_KEY(f, d["issue_key"])
    return f


def _location(loc: list, text: Callable[[Any], Any]) -> Location:
    """`Location(*loc)` through the slots."""
    it = slots.new(Location)
    slots.LOC_PATH(it, text(loc[0]))
    start, end = loc[1], loc[2]
    slots.LOC_START_LINE(it, start)
    # one int object for both when equal, as a parser's `end_line or line` holds (a line
    # above 256 is a new int each time JSON reads it: 0.3 MB at 12,500 findings)
    slots.LOC_END_LINE(it, start if type(end) is int and type(start) is int and end == start
                       else end)
    slots.LOC_SNIPPET(it, loc[3])
    return it


def _resource(res: list, kept: Kept) -> Resource:
    """`Resource(res[0], res[1], dict(res[2]))` through the slots (checkov's every finding)."""
    it = slots.new(Resource)
    slots.RES_TYPE(it, kept.text(res[0]))
    slots.RES_ID(it, res[1])
    slots.RES_DETAILS(it, kept.mapping(res[2]))
    return it


def _secret(sec: list) -> Secret:
    """`Secret(sha256=sec[0], masked=sec[1])` through the slots."""
    it = slots.new(Secret)
    slots.SECRET_SHA256(it, sec[0])
    slots.SECRET_MASKED(it, sec[1])
    return it


_SEVERITIES = {int(s): s for s in Severity}
_CATEGORIES = {c.value: c for c in Category}


def _vuln_to_json(v: Vulnerability) -> dict[str, Any]:
    return {"id": v.id, "package": v.package, "version": v.version,
            "fixed_version": v.fixed_version, "aliases": list(v.aliases),
            "cvss_score": v.cvss_score, "cvss_vector": v.cvss_vector, "urls": list(v.urls)}


def _vuln_from_json(d: Mapping[str, Any]) -> Vulnerability:
    return Vulnerability(id=d["id"], package=d["package"], version=d["version"],
                         fixed_version=d["fixed_version"], aliases=tuple(d["aliases"]),
                         cvss_score=d["cvss_score"], cvss_vector=d["cvss_vector"],
                         urls=tuple(d["urls"]))


def reports_to_json(reports: Iterable[RawReport]) -> list[list[str]]:
    """As text, not base64: a value that escaped scrubbing stays findable by a plain grep."""
    return [[r.name, r.data.decode("utf-8", "surrogateescape")] for r in reports]


def reports_streamed(reports: Iterable[RawReport]) -> jsonout.Each:
    """`reports_to_json`'s value for `write_entry`, decoded and escaped piece by piece."""
    return jsonout.Each([r.name, jsonout.Text(r.data)] for r in reports)


def findings_streamed(findings: Iterable[Finding]) -> jsonout.Each:
    """`[finding_to_json(f) for f in findings]` for `write_entry`, one finding at a time,
    each encoded at once rather than walked by `jsonout.dump` looking for lists to stream
    (half the time of writing an entry's findings)."""
    return jsonout.Each(jsonout.Raw(jsonout.encode(finding_to_json(f))) for f in findings)


def reports_from_json(items: Iterable[list[str]]) -> list[RawReport]:
    return [RawReport(name, data.encode("utf-8", "surrogateescape")) for name, data in items]


def put_reports(tool: str, reports: Iterable[RawReport]) -> str:
    """Store (already scrubbed) reports once under the digest of their content; returns it.
    A tool's whole entry and its unit index name the same report (checkov's is megabytes):
    an entry already there is not written again.

    The reports' bytes sit as they are in a `.bin` file beside the entry, which names each
    report and its length: a hit reads them back without decoding and re-encoding them
    (checkov's 7.6 MB report as a JSON string cost ~15 ms of a re-run's CPU, every run). Still
    no base64: a value that escaped scrubbing stays findable by a plain grep. The `.bin` is
    written first, so an entry never names reports that are not there.

    Inside a tool's digest, nothing is written: the reports are stored after the run's scrub,
    as raw/ holds them (`deferred.py`)."""
    reports = list(reports)
    deferral = DEFERRAL.get()
    if deferral is not None:
        return deferral.put_reports(tool, reports)
    # not the key of the JSON layout's entries ("reports"): a secpipe from before the .bin,
    # sharing the cache, never finds an entry it cannot read under a key it would use
    key = digest(["reports.bin", [[r.name, hashlib.sha256(r.data).hexdigest()] for r in reports]])
    if not _entry_path(tool, key, None).exists():
        write_reports(tool, key, [(r.name, len(r.data)) for r in reports],
                      lambda fh: fh.writelines(r.data for r in reports))
    return key


def write_reports(tool: str, key: str, parts: Iterable[tuple[str, int]],
                  write: Callable[[IO[bytes]], object]) -> None:
    """The `.bin` of reports (`write` gives their bytes, in the order and sizes of `parts`),
    then the entry naming them: an entry never names reports that are not there."""
    if _write_atomic(_entry_path(tool, key, None).with_suffix(".bin"), write, binary=True):
        write_entry(tool, key, {"parts": [[name, size] for name, size in parts]})


def get_reports(tool: str, entry: Mapping[str, Any]) -> list[RawReport] | None:
    """An entry's reports, stored inline or by reference; None when the referenced ones are
    gone or do not read back whole (the entry is then a miss)."""
    if "reports_ref" not in entry:
        return reports_from_json(entry.get("reports", []))
    ref = str(entry["reports_ref"])
    held = read_entry(tool, ref)
    if held is None:
        return None
    if "parts" not in held:   # written before the reports moved to a .bin
        return reports_from_json(held["reports"])
    parts = [(str(name), int(size)) for name, size in held["parts"]]
    try:
        data = _entry_path(tool, ref, None).with_suffix(".bin").read_bytes()
    except OSError:
        return None
    if len(data) != sum(size for _, size in parts):
        return None
    if len(parts) == 1:
        return [RawReport(parts[0][0], data)]   # checkov's one report: no copy
    out, start = [], 0
    for name, size in parts:
        out.append(RawReport(name, data[start:start + size]))
        start += size
    return out
