"""Scanning engines secpipe runs itself, in-process, when no external scanner is at hand.

`baseline` is a passive web scanner speaking OWASP ZAP's baseline dialect (plugin ids, rules
file, JSON report, exit codes), so a pipeline written for `zap-baseline.py` keeps its rules
file and gate when ZAP cannot run.
"""
