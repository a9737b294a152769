# Two entry points for a fresh machine: `make demo` and `make test`.
# Both bootstrap what they need: a .venv with the project, and Debian's `age` CLI.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean age docs grammar

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# Byte-compile now: with PYTHONDONTWRITEBYTECODE set (as on CI) every start-up would recompile.
	$(BIN)/python -m compileall -q -j 0 secretctl $(VENV)/lib >/dev/null || true
	touch $(STAMP)

# The age CLI is used by the interop tests and by the demo's "decrypt with plain age" step.
age:
	@command -v age >/dev/null && command -v age-keygen >/dev/null || { \
	  echo "installing Debian's age CLI"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq age >/dev/null; }

demo: $(STAMP) age
	bash scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check secretctl tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

unit: $(STAMP) age
	@# Four workers on two cores: most tests wait on git, age, bwrap or a child process, and two
	@# workers left the cores idle about a third of the time (at idle: 194 s with two, 146-199 s with four).
	@# PYTHONDONTWRITEBYTECODE (set on CI) also stops pytest from caching its assertion rewrites:
	@# each worker then rewrote every test module, about 2.5 s of CPU per worker per run.
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n 4 --dist worksteal -q --durations=15

test: lint unit

bench: $(STAMP) age
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .bench

docs: $(STAMP)
	$(BIN)/typer secretctl.cli.app utils docs --name secretctl --title "secretctl CLI reference" --output docs/cli-reference.md

# The options the fast path of cli/main.py reads, generated from the Typer app.
grammar: $(STAMP)
	$(BIN)/python scripts/gen_cli_grammar.py
	$(BIN)/python scripts/gen_mcp_answers.py
