"""secpipe's built-in passive web baseline scanner, speaking OWASP ZAP's dialect.

    from secpipe.engines.baseline import run_baseline
    result = run_baseline("http://127.0.0.1:8000/", rules_file="zap-rules.tsv")
    result.verdict      # 0 pass, 1 FAIL, 2 WARN only, 3 error (zap-baseline.py's exit codes)
    result.report       # ZAP's traditional JSON report (parses with secpipe's `zap` format)
    result.html         # a self-contained HTML report

Rules are keyed by ZAP's passive plugin ids with ZAP's names, risks, CWE/WASC and texts;
`RULES` lists them. The rules file is zap-baseline.py's (`-c`), see `rulesfile`.
"""

from __future__ import annotations

from secpipe.engines.baseline.rules import RULES, Rule
from secpipe.engines.baseline.rulesfile import (
    RulesConfig,
    RulesFileError,
    generate_rules,
    load_rules,
    parse_rules,
)
from secpipe.engines.baseline.scan import (
    DEFAULT_MAX_PAGES,
    DEFAULT_MAX_SECONDS,
    BaselineResult,
    RuleOutcome,
    main,
    run_baseline,
)

__all__ = [
    "DEFAULT_MAX_PAGES",
    "DEFAULT_MAX_SECONDS",
    "RULES",
    "BaselineResult",
    "Rule",
    "RuleOutcome",
    "RulesConfig",
    "RulesFileError",
    "generate_rules",
    "load_rules",
    "main",
    "parse_rules",
    "run_baseline",
]
