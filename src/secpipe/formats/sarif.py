"""SARIF 2.1.0, the interchange format most scanners can write (semgrep, CodeQL, gitleaks, ...).

Decisions a reader of the code would otherwise have to reverse-engineer:

* One finding per physical location of each result. The spec lets a result list several places
  that all need a change, and tools such as njsscan/mobsfscan use that for separate
  occurrences, so each place is gated and tracked on its own (DefectDojo counts the same way).
* ``kind`` ``pass``/``notApplicable``/``informational`` results are not problems and are
  skipped; ``fail`` (the default), ``open`` and ``review`` are kept, the latter two marked in
  ``properties["kind"]``.
* Suppressed results are skipped: a result is suppressed when at least one suppression's
  ``status`` is ``accepted`` or absent (the spec's default); ``underReview``/``rejected`` ones
  alone keep it visible (the SARIF SDK's and GitHub's reading).
* Severity: a numeric ``security-severity`` (result, then rule properties; GitHub's convention,
  CVSS-like: >=9 critical, >=7 high, >=4 medium, >0 low, 0 informational) wins over
  ``result.level``, then the rule's ``defaultConfiguration.level``, then the spec default
  ``warning``. ``level`` error/warning/note/none map to high/medium/informational/informational.
* Paths: ``file://`` is stripped and percent-escapes decoded; a ``uriBaseId`` is resolved
  through ``originalUriBaseIds`` only while the bases are relative, so a path stays relative to
  the scan root (an absolute base such as ``file:///build/work/`` is a machine detail that
  would change every finding's identity between checkouts; it is kept in
  ``properties["uri_base"]``).
* ``location_key``: the tool's ``fingerprints`` (highest version of the alphabetically first
  method), else ``partialFingerprints`` (``primaryLocationLineHash`` when present, else all of
  them except whole-file hashes, which change on any edit of the file), else the snippet hash.
* Secrets: results of secret scanners, and results tagged CWE-798/259/321 (hard-coded
  credentials), keep their evidence only as a :class:`Secret`; the snippet is dropped and the
  value is masked wherever the message repeats it.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence
from urllib.parse import unquote

from secpipe.formats._common import as_int, dig, expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Category, Finding, Location, Resource, Severity, Vulnerability
from secpipe.model.finding import snippet_hash
from secpipe.model.secret import Secret

_LEVELS = {
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "note": Severity.INFORMATIONAL,
    "none": Severity.INFORMATIONAL,
}
_NOT_PROBLEMS = {"pass", "notapplicable", "informational"}
SECRET_TOOLS = frozenset({
    "gitleaks", "trufflehog", "trufflehog3", "detect-secrets", "git-secrets", "ggshield",
    "secretlint", "noseyparker", "talisman", "kingfisher",
})
SECRET_CWES = frozenset({"CWE-798", "CWE-259", "CWE-321"})
_MISCONFIG_TOOLS = frozenset({
    "hadolint", "checkov", "kics", "tfsec", "terrascan", "trivy", "kubescape", "kube-linter",
    "tflint", "cfn-lint", "cfn-guard", "dockle",
})
# Driver names that differ from the tool's command name.
_TOOL_ALIASES = {
    "semgrep-oss": "semgrep", "semgrep-pro": "semgrep", "semgrep-code": "semgrep",
    "nodejsscan": "njsscan", "codeql-command-line-toolchain": "codeql",
}
# At most 9 digits: int() refuses thousands of digits (ValueError), and no CWE is that long.
_CWE = re.compile(r"cwe[-_/ :]*0*(\d{1,9})(?!\d)", re.IGNORECASE)
_CWE_URL = re.compile(r"cwe\.mitre\.org/data/definitions/0*(\d{1,9})(?!\d)", re.IGNORECASE)
_VULN_ID = re.compile(r"\b(CVE-\d{4}-\d{4,}|GHSA(?:-[0-9a-z]{4}){3})\b", re.IGNORECASE)
_PLACEHOLDER_FPS = {"", "requires login", "requires-login"}


def cwe_ids(values: Any, *, numbers: bool = False) -> tuple[str, ...]:
    """`CWE-79`, `external/cwe/cwe-079`, `CWE-79: ...` or lists thereof -> ('CWE-79',).

    Bare numbers count only where the caller knows the field holds CWE ids (`numbers`), so a
    tag such as `2` is never mistaken for one.
    """
    found: list[str] = []
    items = values if isinstance(values, (list, tuple)) else [values]
    for item in items:
        if isinstance(item, (dict, list)) or item is None or isinstance(item, bool):
            continue
        value = str(item).strip()
        for match in _CWE.finditer(value):
            found.append(f"CWE-{int(match.group(1))}")
        if numbers and value.isdigit() and len(value) <= 9:
            found.append(f"CWE-{int(value)}")
    return tuple(dict.fromkeys(found))


def tool_name(name: str) -> str:
    """`Semgrep OSS` -> `semgrep`, `Shell Script Analysis` -> `shell-script-analysis`."""
    slug = re.sub(r"[^a-z0-9._]+", "-", name.strip().lower()).strip("-") or "sarif"
    return _TOOL_ALIASES.get(slug, slug)


def _message(msg: Any, rule: Mapping | None, globals_: Mapping) -> str:
    """Resolve a SARIF message: its own text, or a messageStrings template with arguments."""
    if not isinstance(msg, Mapping):
        return ""
    body = text(msg.get("text")) or text(msg.get("markdown"))
    if not body and msg.get("id"):
        strings = dig(rule, "messageStrings", default={}) if rule else {}
        template = dig(strings, text(msg["id"])) or dig(globals_, text(msg["id"]))
        body = text(dig(template, "text")) or text(dig(template, "markdown"))
    args = msg.get("arguments")
    if body and isinstance(args, list):
        def sub(match: re.Match) -> str:
            i = int(match.group(1))
            return text(args[i]) if i < len(args) else match.group(0)
        body = re.sub(r"\{(\d{1,9})\}", sub, body)
    return body.strip()


def _rule_tables(run: Mapping, source: str) -> tuple[list[list[Mapping]], dict[str, Mapping]]:
    """Rules per tool component (0 = driver, 1+ = extensions) and every rule by id."""
    driver = expect(dig(run, "tool", "driver"), dict, source, "run.tool.driver")
    components = [driver] + [e for e in _list(dig(run, "tool", "extensions")) if isinstance(e, dict)]
    tables: list[list[Mapping]] = []
    by_id: dict[str, Mapping] = {}
    for component in components:
        rules = [r for r in _list(component.get("rules")) if isinstance(r, dict)]
        tables.append(rules)
        for rule in rules:
            if text(rule.get("id")):
                by_id.setdefault(text(rule["id"]), rule)
    return tables, by_id


def _find_rule(result: Mapping, tables: list[list[Mapping]], by_id: dict[str, Mapping],
               extension_names: dict[str, int]) -> tuple[str, Mapping | None]:
    ref = result.get("rule") if isinstance(result.get("rule"), dict) else {}
    rule_id = text(result.get("ruleId")) or text(ref.get("id"))
    index = as_int(result.get("ruleIndex"))
    if index is None:
        index = as_int(ref.get("index"))
    component = 0
    comp_ref = ref.get("toolComponent") if isinstance(ref.get("toolComponent"), dict) else {}
    if as_int(comp_ref.get("index")) is not None:
        component = as_int(comp_ref.get("index")) + 1  # type: ignore[operator]
    elif text(comp_ref.get("name")) in extension_names:
        component = extension_names[text(comp_ref["name"])]
    rule = None
    if index is not None and 0 <= component < len(tables) and 0 <= index < len(tables[component]):
        rule = tables[component][index]
    if rule is None and rule_id:
        # Hierarchical ids (`C2001/sub`) fall back on their parent rule (spec 3.27.5).
        rule = by_id.get(rule_id) or by_id.get(rule_id.split("/")[0])
    if not rule_id and rule is not None:
        rule_id = text(rule.get("id"))
    return rule_id, rule


def _suppressed(result: Mapping) -> bool:
    sups = result.get("suppressions")
    if not isinstance(sups, list):
        return False
    for sup in sups:
        if isinstance(sup, dict):
            status = text(sup.get("status") or sup.get("state"), "accepted")  # `state`: pre-2.1
            if status.lower() == "accepted":
                return True
    return False


def _score(props: Any) -> float | None:
    try:
        return float(dig(props, "security-severity"))
    except (TypeError, ValueError):
        return None


def _severity(result: Mapping, rule: Mapping | None) -> tuple[Severity, str, float | None]:
    score = _score(result.get("properties"))
    if score is None:
        score = _score(dig(rule, "properties"))
    if score is not None:
        sev = (Severity.CRITICAL if score >= 9 else Severity.HIGH if score >= 7 else
               Severity.MEDIUM if score >= 4 else Severity.LOW if score > 0 else
               Severity.INFORMATIONAL)
        return sev, f"security-severity {score:g}", score
    level = text(result.get("level")) or text(dig(rule, "defaultConfiguration", "level")) or "warning"
    return _LEVELS.get(level.lower(), Severity.MEDIUM), level, None


def _resolve_uri(artifact: Mapping, run: Mapping) -> tuple[str, str]:
    """An artifactLocation as (path relative to the scan root where possible, absolute base)."""
    uri = text(artifact.get("uri"))
    if not uri and as_int(artifact.get("index")) is not None:
        uri = text(dig(run, "artifacts", as_int(artifact.get("index")), "location", "uri"))
    base_id = text(artifact.get("uriBaseId"))
    bases = run.get("originalUriBaseIds") if isinstance(run.get("originalUriBaseIds"), dict) else {}
    absolute_base = ""
    for _ in range(8):  # base chains are short; the bound stops a cycle
        if not base_id or "://" in uri or uri.startswith("/"):
            break
        base = bases.get(base_id)
        base_uri = text(dig(base, "uri")).strip()
        if not base_uri:
            break
        if "://" in base_uri or base_uri.startswith("/"):
            absolute_base = base_uri
            break
        uri = base_uri.rstrip("/") + "/" + uri
        base_id = text(dig(base, "uriBaseId"))
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
        if re.match(r"^/+[A-Za-z]:/", uri):  # file:///C:/code -> C:/code
            uri = uri.lstrip("/")
        else:
            uri = "/" + uri.lstrip("/")
    return unquote(uri), absolute_base


def _places(result: Mapping, run: Mapping) -> list[dict[str, Any]]:
    places: list[dict[str, Any]] = []
    for loc in _list(result.get("locations")):
        if not isinstance(loc, dict):
            continue
        physical = loc.get("physicalLocation") if isinstance(loc.get("physicalLocation"), dict) else {}
        artifact = physical.get("artifactLocation") if isinstance(physical.get("artifactLocation"), dict) else {}
        region = physical.get("region") if isinstance(physical.get("region"), dict) else {}
        path, base = _resolve_uri(artifact, run) if artifact else ("", "")
        snippet = text(dig(region, "snippet", "text")) or text(
            dig(physical, "contextRegion", "snippet", "text"))
        start = as_int(region.get("startLine"))
        logical = next((text(lg.get("fullyQualifiedName")) or text(lg.get("name"))
                        for lg in _list(loc.get("logicalLocations")) if isinstance(lg, dict)), "")
        places.append({"path": path, "base": base, "start": start,
                       "end": as_int(region.get("endLine")) or start,
                       "snippet": snippet, "logical": logical})
    return places or [{"path": "", "base": "", "start": None, "end": None, "snippet": "",
                       "logical": ""}]


def _fingerprint(result: Mapping) -> str | None:
    def value(v: Any) -> str:
        return text(v.get("value")) if isinstance(v, dict) else text(v)  # blackduck nests them

    full = result.get("fingerprints")
    if isinstance(full, dict):
        best: dict[str, tuple[int, str, str]] = {}
        for key, raw in full.items():
            v = value(raw)
            if v.strip().lower() in _PLACEHOLDER_FPS:
                continue
            method, _, ver = key.rpartition("/v")
            if not method or not ver.isdigit() or len(ver) > 9:
                method, ver = key, "0"
            if method not in best or best[method][0] < int(ver):
                best[method] = (int(ver), key, v)
        if best:
            _, key, v = best[sorted(best)[0]]
            return f"fp:{key}={v}"
    partial = result.get("partialFingerprints")
    if isinstance(partial, dict):
        usable = {k: value(v) for k, v in partial.items()
                  if value(v).strip().lower() not in _PLACEHOLDER_FPS}
        if "primaryLocationLineHash" in usable:
            return f"pfp:primaryLocationLineHash={usable['primaryLocationLineHash']}"
        usable = {k: v for k, v in usable.items() if "file" not in k.lower()}
        if usable:
            return "pfp:" + "|".join(f"{k}={usable[k]}" for k in sorted(usable))
    return None


def _rule_cwes(rule: Mapping | None, result: Mapping, run: Mapping) -> tuple[str, ...]:
    found: list[str] = []
    if rule:
        found += cwe_ids(dig(rule, "properties", "tags") or [])
        found += cwe_ids(dig(rule, "properties", "cwe") or [], numbers=True)
        for rel in _list(rule.get("relationships")):
            target = dig(rel, "target") or {}
            if "cwe" in text(dig(target, "toolComponent", "name")).lower():
                found += cwe_ids(text(target.get("id")), numbers=True)
        match = _CWE_URL.search(text(rule.get("helpUri")))
        if match:
            found.append(f"CWE-{int(match.group(1))}")
    found += cwe_ids(dig(result, "properties", "cwe") or [], numbers=True)
    found += cwe_ids(dig(result, "properties", "tags") or [])
    taxonomies = run.get("taxonomies") if isinstance(run.get("taxonomies"), list) else []
    for taxon in _list(result.get("taxa")):
        if not isinstance(taxon, dict):
            continue
        comp_index = as_int(dig(taxon, "toolComponent", "index"))
        taxonomy = dig(taxonomies, comp_index) if comp_index is not None else None
        if taxonomy is None:
            taxonomy = next((t for t in taxonomies if isinstance(t, dict) and text(t.get("name"))
                             == text(dig(taxon, "toolComponent", "name"))), None)
        comp = text(dig(taxon, "toolComponent", "name")) or text(dig(taxonomy, "name"))
        if "cwe" in comp.lower():
            tid = text(taxon.get("id"))
            if not tid and as_int(taxon.get("index")) is not None:
                tid = text(dig(taxonomy, "taxa", as_int(taxon.get("index")), "id"))
            found += cwe_ids(tid, numbers=True)
    return tuple(dict.fromkeys(found))


def _secret_value(result: Mapping, snippet: str) -> str:
    for key in ("offender", "secret", "match", "Secret", "Match"):
        value = dig(result, "properties", key)
        if isinstance(value, str) and value.strip():
            return value
    return snippet


def _list(value: Any) -> list:
    """An optional SARIF array; anything else (absent, null, wrong type) reads as empty."""
    return value if isinstance(value, list) else []


def _run_findings(run: Mapping, source: str, r: int) -> list[Finding]:
    tables, by_id = _rule_tables(run, source)
    driver = run["tool"]["driver"]
    extensions = [e for e in _list(dig(run, "tool", "extensions")) if isinstance(e, dict)]
    ctx = {
        "run": run, "source": source,
        "tool": tool_name(text(driver.get("name"), "sarif")),
        "props": {k: v for k, v in (
            ("format", "sarif"), ("sarif_tool", text(driver.get("name"))),
            ("tool_version", text(driver.get("semanticVersion")) or text(driver.get("version"))),
        ) if v},
        "globals": driver.get("globalMessageStrings")
        if isinstance(driver.get("globalMessageStrings"), dict) else {},
    }
    ext_names = {text(e.get("name")): i + 1 for i, e in enumerate(extensions)}
    findings: list[Finding] = []
    for i, result in enumerate(objects(run.get("results"), source, f"runs[{r}].results")):
        kind = text(result.get("kind"), "fail")
        if kind.lower() in _NOT_PROBLEMS or _suppressed(result):
            continue
        rule_id, rule = _find_rule(result, tables, by_id, ext_names)
        findings.extend(_result_findings(result, kind, rule_id, rule, ctx, f"runs[{r}].results[{i}]"))
    return findings


def _result_findings(result: Mapping, kind: str, rule_id: str, rule: Mapping | None,
                     ctx: Mapping[str, Any], where: str) -> list[Finding]:
    run, tool, globals_ = ctx["run"], ctx["tool"], ctx["globals"]
    message = _message(result.get("message"), rule, globals_)
    short = _message(dig(rule, "shortDescription"), rule, globals_) if rule else ""
    full = _message(dig(rule, "fullDescription"), rule, globals_) if rule else ""
    rule_name = text(dig(rule, "name")) if rule else ""
    if not (message or short or rule_id):
        raise ReportFormatError(ctx["source"], f"{where} has no message and no rule")
    severity, original, score = _severity(result, rule)
    cwes = _rule_cwes(rule, result, run)
    vuln_ids = list(dict.fromkeys(
        m.upper() for m in _VULN_ID.findall(f"{rule_id} {text(dig(rule, 'id'))}")))
    secretish = tool in SECRET_TOOLS or bool(SECRET_CWES & set(cwes))
    category = (Category.SECRET if secretish else Category.VULNERABILITY if vuln_ids else
                Category.MISCONFIGURATION if tool in _MISCONFIG_TOOLS else Category.CODE)
    help_uri = text(dig(rule, "helpUri")) if rule else ""
    fixes = [text(dig(f, "description", "text")) for f in _list(result.get("fixes"))]
    remediation = "\n".join(f for f in fixes if f) or (
        text(dig(rule, "help", "text")) if rule else "") or None
    fingerprint = _fingerprint(result)
    places = _places(result, run)
    title = (message.splitlines()[0] if message else "") or short or rule_name or rule_id
    description = "\n\n".join(dict.fromkeys(p for p in (message, full or short) if p))
    findings: list[Finding] = []
    for n, place in enumerate(places):
        snippet: str = place["snippet"]
        secret = None
        title_p, description_p = title, description
        if secretish:
            value = _secret_value(result, snippet).strip()
            if value:
                secret = Secret.from_value(value)
                title_p = title.replace(value, secret.masked)
                description_p = description.replace(value, secret.masked)
            snippet = ""
        key = fingerprint
        if key and len(places) > 1:
            key += "#" + (snippet_hash(snippet) if snippet else f"{place['path']}:{n}")
        elif not key and snippet:
            key = "snippet:" + snippet_hash(snippet)
        elif not key and not place["path"] and place["logical"]:
            key = "logical:" + place["logical"]
        props = dict(ctx["props"])
        for name, value in (("kind", kind if kind != "fail" else ""), ("rule_name", rule_name),
                            ("uri_base", place["base"]), ("logical_location", place["logical"]),
                            ("security_severity", f"{score:g}" if score is not None else "")):
            if value:
                props[name] = value
        findings.append(Finding(
            tool=tool,
            rule_id=rule_id or "unknown",
            title=title_p or "SARIF result",
            description=description_p,
            severity=severity,
            severity_original=original,
            category=category,
            location=Location(place["path"], place["start"], place["end"], snippet or None)
            if place["path"] else None,
            resource=Resource(type="Other", id=place["logical"])
            if not place["path"] and place["logical"] else None,
            remediation=remediation,
            remediation_url=help_uri or None,
            references=(help_uri,) if help_uri else (),
            cwe=cwes,
            vulnerabilities=tuple(Vulnerability(id=v, cvss_score=score) for v in vuln_ids),
            secret=secret,
            location_key=key,
            properties=props,
        ))
    return findings


def parse(data: bytes, source: str = "<sarif>") -> Sequence[Finding]:
    doc = expect(load_json(data, source), dict, source, "a SARIF log")
    version = text(doc.get("version"))
    if "runs" not in doc or not version:
        raise ReportFormatError(source, "not a SARIF log: no 'version' and 'runs' (SARIF "
                                        "requires both)")
    if not version.startswith("2."):
        raise ReportFormatError(source, f"SARIF version {version} is not supported (2.1.0 is)")
    findings: list[Finding] = []
    for r, run in enumerate(objects(doc["runs"], source, "runs")):
        try:
            findings.extend(_run_findings(run, source, r))
        except (TypeError, AttributeError, ValueError, KeyError) as exc:
            # SARIF nests deeply; an odd type anywhere is a bad report, never a traceback.
            raise ReportFormatError(source, f"runs[{r}] is malformed SARIF ({exc!r})") from None
    return findings


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        return False
    return "sarif" in text(data.get("$schema")).lower() or text(data.get("version")).startswith("2.")


FORMAT = ReportFormat(name="sarif", title="SARIF 2.1.0", parse=parse, sniff=sniff,
                      extensions=(".sarif", ".sarif.json", ".json"))
