# compstat: `make demo` runs a real cycle on synthetic data; `make test` runs lint and the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AXE_VERSION := 4.14.1
AXE_DIR := $(VENV)/axe
AXE := $(AXE_DIR)/.axe-core-$(AXE_VERSION)

.DEFAULT_GOAL := help
.PHONY: help demo test lint pytest bench system-deps axe clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

system-deps: ## Install the Debian packages (Pango, fonts, poppler) if missing
	@bash scripts/system-deps.sh

demo: $(STAMP) system-deps ## Write the demo data and last meeting's actions (updated from a commander's sheet), run this week's cycle, print where the PDFs are, write the public report card
	$(BIN)/compstat demo --config config/demo.yaml
	$(BIN)/compstat run-cycle --config config/demo.yaml
	$(BIN)/compstat publish --config config/demo.yaml

lint: $(STAMP) ## ruff, mypy --strict and the layers contract (lint-imports)
	$(BIN)/ruff check compstat tests
	$(BIN)/mypy compstat
	$(BIN)/lint-imports --no-cache

axe: $(AXE) ## axe-core (the browser tests' accessibility check), from the npm registry into .venv/axe

$(AXE): | system-deps
	rm -rf $(AXE_DIR)
	npm install --prefix $(AXE_DIR) --no-save --no-package-lock --no-audit --no-fund --silent axe-core@$(AXE_VERSION)
	test -f $(AXE_DIR)/node_modules/axe-core/axe.min.js
	touch $(AXE)

pytest: $(STAMP) system-deps $(AXE) ## The test suite (PostgreSQL too when COMPSTAT_TEST_PG is set)
	$(BIN)/pytest -n 2 -q

test: lint pytest ## Lint, then the test suite

bench: $(STAMP) system-deps ## 77 x 5 incidents, 78 x 19 weekly counts, a national 300 x 19 force at 20M incidents (about 50 min): seconds and memory per step
	$(BIN)/python -m compstat.bench

clean: ## Remove the venv, demo data, outputs and the demo store
	rm -rf $(VENV) demo-data bench-data cycles/demo cycles/bench compstat.db compstat.db.lock compstat.db.*.lock
