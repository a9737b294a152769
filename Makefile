# Two entry points for a fresh machine: `make demo` and `make test`.
# Both bootstrap what they need: a .venv with the project, and Debian's `age` CLI.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean age docs grammar

# Where `make unit` puts the tests' temporary folders: a tmpfs with room, else TMPDIR (see unit).
TEST_TMPDIR ?= $(or $(shell df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 && $$4 > 4000000 {print "/dev/shm"}'),$(or $(TMPDIR),/tmp))

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
	@# The tests' temporary folders (hundreds of vaults, git repositories and homes) go on a tmpfs
	@# when /dev/shm has 4 GB free: on this VM's ext4 each file created costs about ten times the
	@# CPU (a vault copy 17 vs 1.5 ms), and the CLI and end-to-end tests' system time halves
	@# (14.6-15.1 -> 7.8-8.6 s for tests/cli, test_vault_cli, test_crash, test_team at -n 2).
	@# The folder is removed after a green run and kept, and named, after a red one.
	@# `make unit TEST_TMPDIR=/tmp` runs them on the disk.
	@# Traversable (711): the tests' impostors run as another uid and bind sockets in folders of their own.
	tmp=$$(mktemp -d "$(TEST_TMPDIR)/pytest-tmp.XXXXXX") && chmod 711 "$$tmp" && \
	  { TMPDIR=$$tmp PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n 4 --dist worksteal -q --durations=15 \
	    && rm -rf "$$tmp" || { rc=$$?; echo "the tests' temporary folders are kept in $$tmp"; exit $$rc; }; }

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
