"""The command line, one module per command group.

`main` (the root group with run, convert, formats, doctor, tools) lives in `main.py`; each area
(hub, db, aws, falco, notify) registers its own commands, imported only when one of them is
used, so no command module imports another, the package has no import circle, and start-up
stays fast."""

from __future__ import annotations

from secpipe.cli.main import main

# imported on first use (secpipe.cli.main._Group.lazy): name -> (module, one-line help)
main.lazy.update({
    "import": ("secpipe.cli.hub", "Import one scanner REPORT into the hub as ASFF findings "
                                  "(BatchImportFindings semantics)."),
    "findings": ("secpipe.cli.hub", "Query and triage the hub's findings."),
    "hub": ("secpipe.cli.hub", "Run the findings hub: a Security Hub-compatible API and a "
                               "dashboard."),
    "db": ("secpipe.cli.db", "The OSV vulnerability database the SCA stage matches SBOMs "
                             "against."),
    "aws": ("secpipe.cli.aws", "secpipe on AWS: the pipeline as CloudFormation, the normaliser "
                               "Lambda."),
    "ci": ("secpipe.cli.aws", "The pipeline on other CI systems (GitHub Actions, GitLab CI)."),
    "falco": ("secpipe.cli.falco", "Falco runtime alerts: into the hub, deployment values, "
                                   "rules."),
    "notify": ("secpipe.cli.notify", "Notification rules from secpipe.yml (`notifications:`)."),
    "cache": ("secpipe.cli.cache", "The scan cache that lets a re-run reuse what an unchanged "
                                   "tree already gave."),
})

__all__ = ["main"]
