"""`run_baseline`: spider, passive rules, ZAP-shaped report and zap-baseline.py's verdict.

Verdicts (exit codes) as zap-baseline.py: 0 pass, 1 any FAIL rule matched, 2 WARN rules
matched and no FAIL, 3 the scan itself failed (bad target, target down, bad rules file).
A rule's level comes from the rules file (absent: WARN). IGNORE'd rules are not run, so they
are not in the report; INFO rules are reported and never fail; OUTOFSCOPE instances are
dropped (and URLs out of scope for every rule are not even fetched).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from secpipe.engines.baseline.message import Message
from secpipe.engines.baseline.report import AlertGroup, build_report, render_html
from secpipe.engines.baseline.rules import RULES, run_rules, selected
from secpipe.engines.baseline.rulesfile import (
    RulesConfig,
    RulesFileError,
    generate_rules,
    load_rules,
)
from secpipe.engines.baseline.spider import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT,
    Scope,
    Spider,
    TargetUnreachable,
)

DEFAULT_MAX_PAGES = 500
DEFAULT_MAX_SECONDS = 60.0
PASS, FAIL, WARN, ERROR = 0, 1, 2, 3


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("secpipe")
    except Exception:  # noqa: BLE001 - running from a bare checkout
        return "0"


@dataclass
class RuleOutcome:
    """One rule's matches at its configured level (a line of zap-baseline's summary)."""

    plugin_id: int
    name: str
    level: str
    count: int
    urls: list[str]
    message: str = ""

    def line(self) -> str:
        label = {"FAIL": "FAIL-NEW", "WARN": "WARN-NEW", "INFO": "INFO"}.get(self.level, self.level)
        text = f"{label}: {self.name} [{self.plugin_id}] x {self.count}"
        return text + (f" ({self.message})" if self.message else "")


@dataclass
class BaselineResult:
    report: dict[str, Any]
    verdict: int
    pages: int
    duration_s: float
    warn: list[RuleOutcome] = field(default_factory=list)
    fail: list[RuleOutcome] = field(default_factory=list)
    info: list[RuleOutcome] = field(default_factory=list)
    passed: list[tuple[int, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # non-fatal: a page or rule failed
    error: str | None = None  # fatal: why verdict is 3
    urls: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    html: str = ""

    def summary(self) -> str:
        lines = [f"PASS: {name} [{pid}]" for pid, name in self.passed]
        for outcome in (*self.info, *self.warn, *self.fail):
            lines.append(outcome.line())
            lines.extend(f"\t{u}" for u in outcome.urls[:5])
        if self.error:
            lines.append(f"ERROR: {self.error}")
        lines.append(
            f"FAIL-NEW: {len(self.fail)}\tWARN-NEW: {len(self.warn)}\tINFO: {len(self.info)}\t"
            f"PASS: {len(self.passed)}\t({self.pages} responses in {self.duration_s:.1f} s)"
        )
        return "\n".join(lines)

    def json(self) -> str:
        return json.dumps(self.report, indent=2, ensure_ascii=False)


def _run_async(coro: Any) -> Any:
    """asyncio.run, also when called from inside a running loop (then in a fresh thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="secpipe-baseline")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_baseline(
    target_url: str,
    *,
    rules_file: str | Path | None = None,
    rules: RulesConfig | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    include_alpha: bool = False,
    ignore_warnings: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = DEFAULT_TIMEOUT,
    json_path: str | Path | None = None,
    html_path: str | Path | None = None,
    headers: Mapping[str, str] | None = None,
) -> BaselineResult:
    """Passively scan `target_url` like `zap-baseline.py -t URL [-c rules_file]`; never raises
    for a scan problem (that is verdict 3 with `error` set).

    headers: sent with every request, e.g. {"Cookie": "session=..."} to scan the pages behind
        a login (ZAP's replacer rule `-z "-config replacer..."` does the same). They only ever
        go to the target's origin: the spider requests nothing else."""
    started = time.monotonic()
    version = _version()
    origin = target_url
    groups: dict[tuple, AlertGroup] = {}
    errors: list[str] = []
    config = rules or RulesConfig()
    crawl = None
    error: str | None = None
    try:
        scope = Scope(target_url)
        origin = scope.origin
        if rules_file is not None and rules is None:
            config = load_rules(rules_file)
        active = selected(include_alpha, disabled=config.ignored())

        def on_message(msg: Message) -> None:
            hits, failed = run_rules(msg, active)
            errors.extend(failed)
            for rule, hit in hits:
                if not config.in_scope(rule.id, msg.url):
                    continue
                key = AlertGroup.key(rule, hit)
                if key not in groups:
                    groups[key] = AlertGroup.start(rule, hit)
                groups[key].add(msg.url, msg.method, hit)

        spider = Spider(
            target_url, on_message, max_pages=max_pages, max_seconds=max_seconds,
            concurrency=concurrency, timeout=timeout, exclude=config.crawl_excluded,
            headers=headers,
        )  # fmt: skip
        crawl = _run_async(spider.run())
        errors[:0] = crawl.errors
    except (ValueError, TargetUnreachable, RulesFileError) as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - the engine must report, not crash the pipeline
        error = f"baseline engine failed: {type(exc).__name__}: {exc}"
    for group in groups.values():
        group.sort()
    duration = time.monotonic() - started
    result = _verdict(groups.values(), config, error, ignore_warnings, include_alpha)
    result.report = build_report(origin, groups.values(), version=version)
    result.pages = crawl.pages if crawl else 0
    result.duration_s = duration
    result.errors = errors
    result.urls = [url for url, _ in crawl.fetched] if crawl else []
    result.external = sorted(crawl.external) if crawl else []
    levels = {g.plugin_id: config.level(g.plugin_id) for g in groups.values()}
    result.html = render_html(
        origin=origin, groups=groups.values(), levels=levels, verdict=result.verdict,
        pages=result.pages, duration_s=duration, passed=result.passed, errors=errors,
        error=error, version=version,
    )  # fmt: skip
    if json_path:
        Path(json_path).write_text(result.json(), encoding="utf-8")
    if html_path:
        Path(html_path).write_text(result.html, encoding="utf-8")
    return result


def _verdict(
    groups: Any, config: RulesConfig, error: str | None, ignore_warnings: bool, alpha: bool
) -> BaselineResult:
    by_rule: dict[int, list[AlertGroup]] = {}
    for group in groups:
        by_rule.setdefault(group.plugin_id, []).append(group)
    result = BaselineResult(report={}, verdict=PASS, pages=0, duration_s=0.0, error=error)
    for pid, found in sorted(by_rule.items()):
        level = config.level(pid)
        urls = list(dict.fromkeys(i["uri"] for g in found for i in g.instances))
        outcome = RuleOutcome(
            pid, found[0].name, level, sum(len(g.instances) for g in found), urls,
            config.messages.get(str(pid), ""),
        )  # fmt: skip
        {"FAIL": result.fail, "WARN": result.warn, "INFO": result.info}[level].append(outcome)
    ignored = config.ignored()
    result.passed = [] if error else [
        (r.id, r.name) for r in selected(alpha) if r.id not in by_rule and r.id not in ignored
    ]  # fmt: skip
    if error:
        result.verdict = ERROR
    elif result.fail:
        result.verdict = FAIL
    elif result.warn and not ignore_warnings:
        result.verdict = WARN
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """zap-baseline.py-like command line; returns the verdict as exit status."""
    parser = argparse.ArgumentParser(
        prog="secpipe-baseline",
        description="Passive web baseline scan speaking ZAP's rules file, report and exit codes.",
    )
    parser.add_argument("-t", "--target", help="target URL, e.g. http://127.0.0.1:8000/")
    parser.add_argument("-c", "--config", help="ZAP baseline rules file (tab-separated)")
    parser.add_argument("-g", "--generate", help="write a default rules file here and exit")
    parser.add_argument("-J", "--json", help="write the JSON report here")
    parser.add_argument("-r", "--html", help="write the HTML report here")
    parser.add_argument("-m", "--minutes", type=float, help="spider minutes (like ZAP's -m)")
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS)
    parser.add_argument("--max-pages", type=int, default=DEFAULT_MAX_PAGES)
    parser.add_argument("-a", "--alpha", action="store_true", help="include alpha rules")
    parser.add_argument("-I", "--ignore-warnings", action="store_true",
                        help="do not return failure on warnings")  # fmt: skip
    args = parser.parse_args(argv)
    if args.generate:
        Path(args.generate).write_text(generate_rules((r.id, r.name) for r in RULES.values()))
        return PASS
    if not args.target:
        parser.error("-t/--target is required")
    result = run_baseline(
        args.target, rules_file=args.config, max_pages=args.max_pages,
        max_seconds=args.minutes * 60 if args.minutes else args.max_seconds,
        include_alpha=args.alpha, ignore_warnings=args.ignore_warnings,
        json_path=args.json, html_path=args.html,
    )  # fmt: skip
    print(result.summary())
    return result.verdict
