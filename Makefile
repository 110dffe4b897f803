# secpipe — the two commands of the README:
#   make demo   set everything up and run the pipeline on examples/web
#   make test   install what the tests need and run them
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SECPIPE := $(BIN)/secpipe
STAMP := $(VENV)/.installed

.PHONY: demo test venv tools browser clean bench soak fuzz help

help:
	@echo "make demo   # install secpipe in .venv, provision the scanners, scan examples/web"
	@echo "make test   # install test dependencies and scanners, run the test suite"
	@echo "make bench  # secpipe vs the same tools one after another; generated-repo scale; the hub's numbers"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	@touch $(STAMP)

venv: $(STAMP)

tools: $(STAMP)
	$(SECPIPE) tools install
	@# optional extras the tests drive for real (DAST cross-check, CloudFormation lint, history
	@# engine, and the Security Hub clients of tests/clients: prowler and the AWS CLI)
	$(SECPIPE) tools install wapiti cfn-lint kingfisher prowler awscli

demo: tools
	@# the SCA stage matches against an offline OSV subset for the example's pinned packages
	$(SECPIPE) db import examples/web/osv-demo
	@echo
	@echo "== secpipe run examples/web  (the example is deliberately vulnerable: the gate must fail)"
	@set +e; $(SECPIPE) run examples/web; rc=$$?; set -e; \
	if [ $$rc -eq 1 ]; then \
	  echo; echo "The gate failed as it should (exit 1): the example leaks keys and is misconfigured."; \
	  echo "Open the report:  xdg-open examples/web/.secpipe/runs/latest/report.html  (or any browser)"; \
	  echo "Machine-readable: examples/web/.secpipe/runs/latest/{summary.json,findings.asff.json,results.sarif,junit.xml}"; \
	else echo "unexpected exit code $$rc (0 = nothing found, 2 = error): see above"; exit 1; fi

browser:
	@# the dashboard's browser tests drive Debian's Chromium (Playwright never downloads one)
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: sudo apt-get install chromium (browser tests will skip)"; fi; fi

# Two pytest workers (one per core here): much of the suite waits on scanners, servers and
# databases, so a second worker fills the idle core. A file's tests stay in one worker
# (--dist loadfile), as its module fixtures expect. TEST_JOBS=0 runs them in one process.
TEST_JOBS ?= 2
test: tools browser
	$(BIN)/python -m pytest -q -p no:cacheprovider -rfEs -n $(TEST_JOBS) --dist loadfile

bench: tools
	$(BIN)/python bench/startup.py --runs 7
	$(BIN)/python bench/pipeline_vs_serial.py --runs 5
	$(BIN)/python bench/generated_repo.py
	$(BIN)/python bench/parallel_gain.py --runs 3
	$(BIN)/python bench/own_cpu.py --html-load --second-run
	@# the hub's numbers (issue 15): store import vs bare executemany, GetFindings at 1M,
	@# unchanged re-import, on SQLite and PostgreSQL; then HTTP import with 4 boto3 clients
	$(BIN)/python bench/hub_store.py
	$(BIN)/python bench/hub_http.py

fuzz: $(STAMP)
	$(BIN)/python bench/fuzz_formats.py --minutes 10

soak: $(STAMP)
	$(BIN)/python bench/hub_soak.py --minutes 10

clean:
	rm -rf .secpipe build dist src/*.egg-info
