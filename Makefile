# secpipe — the two commands of the README:
#   make demo   set everything up and run the pipeline on examples/web
#   make test   install what the tests need and run them
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SECPIPE := $(BIN)/secpipe
STAMP := $(VENV)/.installed

.PHONY: demo test venv tools clean bench help

help:
	@echo "make demo   # install secpipe in .venv, provision the scanners, scan examples/web"
	@echo "make test   # install test dependencies and scanners, run the test suite"
	@echo "make bench  # secpipe vs the same tools run one after another"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

tools: $(STAMP)
	$(SECPIPE) tools install

demo: tools
	@echo
	@echo "== secpipe run examples/web  (the example is deliberately vulnerable: the gate must fail)"
	@set +e; $(SECPIPE) run examples/web; rc=$$?; set -e; \
	if [ $$rc -eq 1 ]; then \
	  echo; echo "The gate failed as it should (exit 1): the example leaks keys and is misconfigured."; \
	  echo "Open the report:  xdg-open .secpipe/runs/latest/report.html  (or any browser)"; \
	  echo "Machine-readable: .secpipe/runs/latest/{summary.json,findings.asff.json,results.sarif,junit.xml}"; \
	else echo "unexpected exit code $$rc (0 = nothing found, 2 = error): see above"; exit 1; fi

test: tools
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: tools
	$(BIN)/python bench/pipeline_vs_serial.py --runs 5

clean:
	rm -rf .secpipe build dist src/*.egg-info
