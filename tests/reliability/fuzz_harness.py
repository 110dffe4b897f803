"""The fuzzing oracle and the per-format inputs: real reports, their mutations, shaped documents.

The oracle (:func:`check`) is the parser contract of docs/reliability.md: a parser returns
Findings that each make valid, serialisable ASFF, or raises ReportFormatError, and nothing
else; it never runs past a deadline and never holds more memory than a bound proportional to
its input. Used by tests/reliability/test_fuzz_formats.py (few examples, every `make test`)
and bench/fuzz_formats.py (as many as you like).
"""

from __future__ import annotations

import faulthandler
import json
import random
import signal
import threading
import time
import tracemalloc
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from secpipe.formats import ReportFormatError, all_formats
from secpipe.formats.interface import Document, ReportFormat
from secpipe.model import Finding, SourceContext, to_asff, validate_asff
from tests.conftest import OWN_FIXTURES, SHARED_FIXTURES
from tests.reliability import fuzz_docs as docs
from tests.reliability import fuzz_markup as markup

CTX = SourceContext(repo="fuzz", branch="main", commit="0" * 40, run_id="fuzz", stage="fuzz")
DEADLINE_S = 20.0                  # one parse; real reports of this size take milliseconds
MEMORY_FACTOR = 50                 # peak Python allocations <= 50 x input + 20 MB
MEMORY_FLOOR = 20 * 1024 * 1024

# Where each format's real reports are: ../shared/fixtures/<dir> and tests/fixtures/<dir>.
FIXTURE_DIRS: dict[str, tuple[str, ...]] = {
    "anchore-engine": ("anchore_engine",),
    "anchorectl": ("anchorectl_vulns",),
    "asff": ("asff", "awssecurityhub"),
    "bandit": ("bandit",),
    "checkov": ("checkov",),
    "cyclonedx": ("cyclonedx",),
    "dependency-check": ("dependency_check",),
    "detect-secrets": ("detect_secrets", "detect-secrets"),
    "ecr": ("ecr",),
    "falco": ("falco",),
    "git-secrets": ("git-secrets",),
    "gitleaks": ("gitleaks",),
    "grype": ("anchore_grype",),
    "hadolint": ("hadolint",),
    "inspector2": ("aws_inspector2",),
    "kics": ("kics",),
    "kube-bench": ("kubebench",),
    "kubeaudit": ("kubeaudit",),
    "kubescape": ("kubescape",),
    "nikto": ("nikto",),
    "npm-audit": ("npm_audit", "npm_audit_7_plus"),
    "nuclei": ("nuclei",),
    "ocsf": ("ocsf",),
    "osv-scanner": ("osv_scanner",),
    "pip-audit": ("pip_audit",),
    "sarif": ("sarif",),
    "semgrep": ("semgrep",),
    "snyk": ("snyk",),
    "terrascan": ("terrascan",),
    "tfsec": ("tfsec",),
    "trivy": ("trivy",),
    "trufflehog": ("trufflehog",),
    "trufflehog3": ("trufflehog3",),
    "kingfisher": ("kingfisher",),
    "wapiti": ("wapiti",),
    "zap": ("zap", "zap_json"),
}


class ParserBug(AssertionError):
    """The parser broke its contract on this input."""


class _Hang(BaseException):
    """Raised from SIGALRM inside a parse that ran past the deadline (BaseException so a
    parser's own `except Exception` cannot swallow it)."""


@dataclass
class Outcome:
    accepted: bool          # True: findings returned; False: ReportFormatError
    findings: int
    peak_bytes: int
    seconds: float


def check(fmt: ReportFormat, data: bytes, *, deadline: float = DEADLINE_S,
          memory: bool = True) -> Outcome:
    """Parse `data` with `fmt` and hold the result to the contract, or raise ParserBug."""
    source = f"fuzz.{fmt.name}"
    tracing = memory and tracemalloc.is_tracing()
    if tracing:
        tracemalloc.clear_traces()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
    alarm = threading.current_thread() is threading.main_thread()
    if alarm:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, deadline)
    # the backstop for a hang in C code, where SIGALRM's handler never gets to run
    faulthandler.dump_traceback_later(deadline * 1.5 + 10, exit=True)
    start = time.perf_counter()
    try:
        try:
            findings = fmt.parse(data, source)
        except ReportFormatError as exc:
            if source not in str(exc):
                raise ParserBug(f"{fmt.name}: ReportFormatError without the source name: {exc}")
            findings = None
        except _Hang:
            raise ParserBug(f"{fmt.name}: still parsing {len(data)} bytes after {deadline}s "
                            "(a hang)") from None
        except Exception as exc:  # noqa: BLE001 - any other exception is the bug we look for
            raise ParserBug(f"{fmt.name}: {type(exc).__name__}: {str(exc)[:300]}") from exc
        finally:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] - base if tracing else 0
        bound = MEMORY_FACTOR * len(data) + MEMORY_FLOOR
        if peak > bound:
            raise ParserBug(f"{fmt.name}: peak {peak} bytes of Python memory for {len(data)} "
                            f"bytes of input (bound {bound})")
        if findings is None:
            return Outcome(False, 0, peak, seconds)
        _hold(fmt, findings)
        return Outcome(True, len(findings), peak, seconds)
    finally:
        faulthandler.cancel_dump_traceback_later()


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Hang()


def _hold(fmt: ReportFormat, findings: Any) -> None:
    if not isinstance(findings, (list, tuple)):
        raise ParserBug(f"{fmt.name}: returned {type(findings).__name__}, not a list")
    for finding in findings:
        if not isinstance(finding, Finding):
            raise ParserBug(f"{fmt.name}: returned a {type(finding).__name__} among findings")
        try:
            obj = to_asff(finding, CTX)
            problems = validate_asff(obj)
            # what the hub, the sinks and the writers do with it: strict JSON, UTF-8
            json.dumps(obj, allow_nan=False).encode("utf-8")
            json.dumps(obj, allow_nan=False, ensure_ascii=False).encode("utf-8")
        except Exception as exc:  # noqa: BLE001
            raise ParserBug(f"{fmt.name}: finding {finding.rule_id!r:.80} breaks ASFF "
                            f"conversion: {type(exc).__name__}: {str(exc)[:200]}") from exc
        if problems:
            raise ParserBug(f"{fmt.name}: invalid ASFF for {finding.rule_id!r:.80}: {problems}")


# --- inputs -----------------------------------------------------------------------------------

def fixture_files(name: str) -> list[Path]:
    found: list[Path] = []
    for folder in FIXTURE_DIRS.get(name, ()):
        for base in (SHARED_FIXTURES, OWN_FIXTURES):
            if (base / folder).is_dir():
                found += sorted(p for p in (base / folder).rglob("*")
                                if p.is_file() and p.suffix != ".md")
    return found


@lru_cache(maxsize=None)
def seeds(name: str, max_bytes: int = 1 << 62) -> tuple[tuple[str, bytes], ...]:
    return tuple((p.name, p.read_bytes()) for p in fixture_files(name)
                 if p.stat().st_size <= max_bytes)


@dataclass(frozen=True)
class Kind:
    kind: str                        # json, jsonl, xml, text
    json_shape: docs.Shape | None = None
    xml_shape: markup.XShape | None = None
    lines: tuple[str, ...] = ()


@lru_cache(maxsize=None)
def kinds(name: str) -> tuple[Kind, ...]:
    """The document kinds the format's real reports come in, each with its learned shape."""
    json_docs, line_docs, xml_roots, lines = [], [], [], []
    for _, data in seeds(name, 2 * 1024 * 1024):
        doc = Document(data)
        if doc.json is not None:
            json_docs.append(doc.json)
        elif doc.json_lines is not None:
            line_docs += doc.json_lines
        elif data.lstrip(b"\xef\xbb\xbf \r\n\t")[:1] == b"<":
            try:
                xml_roots.append(ET.fromstring(data))
            except ET.ParseError:
                pass
        else:
            lines += [ln for ln in doc.text.splitlines() if ln.strip()][:200]
    out = []
    if json_docs:
        out.append(Kind("json", json_shape=docs.learn_all(json_docs)))
    if line_docs:
        out.append(Kind("jsonl", json_shape=docs.learn_all(line_docs)))
    if xml_roots:
        shape = None
        for root in xml_roots:
            if shape is None or shape.tag == root.tag:
                shape = markup.learn_xml(root, shape)
        out.append(Kind("xml", xml_shape=shape))
    if lines:
        out.append(Kind("text", lines=tuple(dict.fromkeys(lines))))
    if not out:  # no real report at all: generic JSON of every shape
        out.append(Kind("json"))
    return tuple(out)


_TRIVIAL = (b"", b" \n", b"\xef\xbb\xbf", b"null", b"0", b'""', b"[]", b"{}", b"[null]", b"[{}]",
            b'{"":{}}', b"\x00" * 64, b"<a/>", b"<?xml version='1.0'?>", b"\xff" * 8, b"NaN")


def structured_doc(name: str, rng: random.Random) -> bytes:
    """A document shaped like the format's own (learned from its real reports), made hostile."""
    if rng.randrange(20) == 0:
        return rng.choice(_TRIVIAL)
    kind = rng.choice(kinds(name))
    if kind.kind == "json":
        return docs.json_document(rng, kind.json_shape)
    if kind.kind == "jsonl":
        return docs.json_lines_document(rng, kind.json_shape)
    if kind.kind == "xml":
        return markup.xml_document(rng, kind.xml_shape)
    return markup.text_document(rng, list(kind.lines))


def mutated_doc(name: str, rng: random.Random, max_bytes: int = 400 * 1024) -> bytes:
    """A real report of the format, mutated: truncated, bytes flipped, JSON nodes swapped."""
    pool = seeds(name, max_bytes)
    if not pool:
        return structured_doc(name, rng)
    _, data = rng.choice(pool)
    for _ in range(rng.choice([1, 1, 2, 3])):
        data = _one_mutation(rng, data)
    return data


def structured(name: str) -> st.SearchStrategy[bytes]:
    return st.integers(0, 2 ** 64).map(lambda seed: structured_doc(name, random.Random(seed)))


def mutated(name: str, max_bytes: int = 400 * 1024) -> st.SearchStrategy[bytes]:
    return st.integers(0, 2 ** 64).map(
        lambda seed: mutated_doc(name, random.Random(seed), max_bytes))


_MUTATIONS = ("truncate", "truncate", "flip", "insert", "delete", "swap-node", "swap-node",
              "swap-node", "drop-key", "bom", "duplicate", "giant")
_JUNK = (b"\x00", b"\xff", b"{", b"[", b'"', b"<", b"&x;", b"\n", b"\x1b[2J", "\u202e".encode(),
         b"NaN", b"9" * 5000, b"\\u", b"]]>", b"-Infinity")


def _one_mutation(rng: random.Random, data: bytes) -> bytes:
    how = rng.choice(_MUTATIONS)
    n = len(data)
    if how == "truncate":
        return data[: rng.randint(0, n)]
    if how == "flip" and n:
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(n)] ^= 1 << rng.randrange(8)
        return bytes(buf)
    if how == "insert":
        at = rng.randint(0, n)
        return data[:at] + rng.choice(_JUNK) + data[at:]
    if how == "delete" and n:
        a = rng.randrange(n)
        return data[:a] + data[a + rng.randint(1, 64):]
    if how == "duplicate" and n:
        a = rng.randrange(n)
        piece = data[a:a + rng.randint(1, 256)]
        return data[:a] + piece * rng.randint(2, 50) + data[a:]
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    if how in ("swap-node", "drop-key", "giant"):
        return _mutate_tree(rng, data, how)
    return data


def _mutate_tree(rng: random.Random, data: bytes, how: str) -> bytes:
    doc = Document(data)
    value = doc.json
    if value is None:
        rows = doc.json_lines
        if rows is None:
            return _mutate_xml(rng, data)
        i = rng.randrange(len(rows))
        models = [docs.to_model(r) for r in rows]
        models[i] = _replace_node(rng, models[i], how)
        return b"\n".join(docs.encode(m) for m in models)
    return docs.encode(_replace_node(rng, docs.to_model(value), how))


def _replace_node(rng: random.Random, root: Any, how: str) -> Any:
    """Swap one node of the tree (picked at random among all) for a hostile value."""
    paths: list[tuple[Any, ...]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    while stack and len(paths) < 20_000:
        node, path = stack.pop()
        paths.append(path)
        if isinstance(node, docs.Obj):
            stack += [(v, path + (i,)) for i, (_, v) in enumerate(node.pairs)]
        elif isinstance(node, list):
            stack += [(v, path + (i,)) for i, v in enumerate(node)]
    target = rng.choice(paths)
    if how == "drop-key":
        replacement = None
    elif how == "giant":
        replacement = docs.giant_text(rng)
    else:
        replacement = docs.hostile_value(rng)
    return _set(root, target, replacement, drop=how == "drop-key")


def _set(node: Any, path: tuple[Any, ...], value: Any, drop: bool) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, docs.Obj):
        pairs = list(node.pairs)
        if drop and not rest:
            del pairs[head]
        else:
            pairs[head] = (pairs[head][0], _set(pairs[head][1], rest, value, drop))
        return docs.Obj(tuple(pairs))
    items = list(node)
    if drop and not rest:
        del items[head]
    else:
        items[head] = _set(items[head], rest, value, drop)
    return items


def _mutate_xml(rng: random.Random, data: bytes) -> bytes:
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return data[: rng.randint(0, len(data))]
    elements = list(root.iter())[:20_000]
    target = rng.choice(elements)
    fate = rng.randrange(5)
    text = rng.choice([rng.choice(docs.XML_SAFE_TEXT), docs.huge_text(rng)])
    if fate == 0:
        target.text = text
    elif fate == 1 and target.attrib:
        target.set(rng.choice(sorted(target.attrib)), text)
    elif fate == 2 and len(target):
        target.remove(target[rng.randrange(len(target))])
    elif fate == 3:
        target.text = docs.giant_text(rng)
    else:
        target.tag = rng.choice(["x", "{urn:other}y", "z"])
    try:
        return ET.tostring(root, encoding="utf-8")
    except ValueError:
        return data


def format_names() -> list[str]:
    return sorted(all_formats())


def placeholder(fmt: ReportFormat) -> bool:
    """A format module still being written (its parse raises NotImplementedError)."""
    try:
        fmt.parse(b"{}", "probe")
    except NotImplementedError:
        return True
    except Exception:  # noqa: BLE001 - anything else is for the fuzzer to judge
        return False
    return False
