"""zap-baseline.py's rules file, and the verdicts it drives."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from secpipe.engines.baseline import RULES, generate_rules, parse_rules, run_baseline
from secpipe.engines.baseline.rulesfile import RulesFileError, load_rules
from tests.engines.targets import alerts


def test_parses_levels_messages_and_scope() -> None:
    config = parse_rules(
        "# ZAP baseline rules\n\n"
        "10020\tFAIL\t(Missing Anti-clickjacking Header)\n"
        "10038\tIGNORE\t(Content Security Policy (CSP) Header Not Set)\tfixed in ticket 42\n"
        "10021,10036\tINFO\t(two at once)\n"
        "10096\tOUTOFSCOPE\thttp://127.0.0.1:\\d+/static/.*\n"
        "*\tOUTOFSCOPE\t.*/logout\n"
    )
    assert config.level(10020) == "FAIL" and config.level("10038") == "IGNORE"
    assert config.level(10021) == config.level(10036) == "INFO"
    assert config.level(10010) == "WARN"  # absent rules are WARN
    assert config.messages["10038"] == "fixed in ticket 42"
    assert config.ignored() == {10038}
    assert not config.in_scope(10096, "http://127.0.0.1:8080/static/a.js")
    assert config.in_scope(10096, "http://127.0.0.1:8080/index.html")
    assert config.in_scope(10010, "http://127.0.0.1:8080/static/a.js")
    assert not config.in_scope(10010, "http://127.0.0.1:8080/app/logout")  # re.match from start
    assert config.crawl_excluded("http://127.0.0.1:8080/logout")


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("10020 FAIL (spaces)\n", 1, "separated by tabs"),
        ("# c\n\n10020\tBLOCK\t(x)\n", 3, "unknown level 'BLOCK'"),
        ("abc\tWARN\t(x)\n", 1, "rule id 'abc' is not a numeric plugin id"),
        ("*\tFAIL\t(x)\n", 1, "rule id '*' is not a numeric plugin id"),
        ("10020\tWARN\t(x)\n10096\tOUTOFSCOPE\n", 2, "OUTOFSCOPE needs a URL regex"),
        ("10096\tOUTOFSCOPE\t([unclosed\n", 1, "bad OUTOFSCOPE regex"),
    ],
)
def test_malformed_lines_name_file_and_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(RulesFileError) as caught:
        parse_rules(text, "rules.tsv")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"rules.tsv:{line}: ")
    assert problem in str(caught.value)


def test_unreadable_rules_file(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match="cannot read rules file"):
        load_rules(tmp_path / "missing.tsv")


def test_generated_file_round_trips() -> None:
    text = generate_rules((r.id, r.name) for r in RULES.values())
    assert "10020\tWARN\t(Anti-clickjacking Header)\n" in text
    config = parse_rules(text)
    assert set(config.levels) == {str(i) for i in RULES} and set(config.levels.values()) == {"WARN"}


def _levels(result) -> dict[str, set[int]]:
    return {
        "fail": {o.plugin_id for o in result.fail},
        "warn": {o.plugin_id for o in result.warn},
        "info": {o.plugin_id for o in result.info},
    }


def test_10020_fail_and_10038_ignore_change_the_verdicts_exactly_so(
    defect_site, tmp_path: Path
) -> None:
    default = run_baseline(defect_site.url, max_seconds=30)
    assert default.verdict == 2 and not default.fail
    assert {10020, 10038} <= _levels(default)["warn"]

    rules = tmp_path / "rules.tsv"
    rules.write_text("10020\tFAIL\t(Missing Anti-clickjacking Header)\n"
                     "10038\tIGNORE\t(Content Security Policy (CSP) Header Not Set)\n")  # fmt: skip
    tuned = run_baseline(defect_site.url, rules_file=rules, max_seconds=30)
    assert tuned.verdict == 1
    assert _levels(tuned)["fail"] == {10020}
    assert _levels(tuned)["warn"] == _levels(default)["warn"] - {10020, 10038}
    assert not alerts(tuned, 10038)  # IGNORE'd rules are not reported at all
    assert 10038 not in {pid for pid, _ in tuned.passed}
    assert alerts(tuned, 10020) == alerts(default, 10020)


def test_info_never_fails_and_ignore_warnings(defect_site, tmp_path: Path) -> None:
    rules = tmp_path / "rules.tsv"
    rules.write_text("".join(f"{pid}\tINFO\t(x)\n" for pid in RULES))
    quiet = run_baseline(defect_site.url, rules_file=rules, max_seconds=30)
    assert quiet.verdict == 0 and quiet.info and not quiet.warn and not quiet.fail
    assert alerts(quiet)  # still reported
    lenient = run_baseline(defect_site.url, max_seconds=30, ignore_warnings=True)
    assert lenient.verdict == 0 and lenient.warn  # -I: warnings shown, exit 0


def test_out_of_scope_rule_instances_are_dropped(defect_site, tmp_path: Path) -> None:
    rules = tmp_path / "rules.tsv"
    rules.write_text("10020\tOUTOFSCOPE\thttp://127\\.0\\.0\\.1:\\d+/(about|login)$\n")
    result = run_baseline(defect_site.url, rules_file=rules, max_seconds=30)
    uris = {i["uri"] for a in alerts(result, 10020) for i in a["instances"]}
    assert uris and not any(u.endswith(("/about", "/login")) for u in uris)
    assert any(u.endswith("/about") for a in alerts(result, 10038) for i in a["instances"]
               for u in [i["uri"]])  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_target_down_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}/"
    result = run_baseline(url, max_seconds=10, timeout=2)
    assert result.verdict == 3
    assert result.error and result.error.startswith(f"target {url} is unreachable: ConnectError")
    assert result.report["site"][0]["alerts"] == []  # still a well-formed (empty) report
    assert "The scan did not complete" in result.html


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/", "not a url", "http:///nohost"])
def test_bad_target_is_verdict_3(target: str) -> None:
    result = run_baseline(target, max_seconds=5)
    assert result.verdict == 3 and "http(s) URL" in (result.error or "")


def test_bad_rules_file_is_verdict_3(defect_site, tmp_path: Path) -> None:
    rules = tmp_path / "rules.tsv"
    rules.write_text("10020 FAIL\n")
    result = run_baseline(defect_site.url, rules_file=rules, max_seconds=5)
    assert result.verdict == 3 and result.error.startswith(f"{rules}:1: ")
