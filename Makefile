# Two commands for a newcomer: `make run` and `make test`. Each installs what it
# needs into .venv first (idempotent), so they work on a fresh clone.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench bench-ack bench-click bench-reminders bench-export bench-chaos bench-alerts bench-deadlines bench-gates bench-storm bench-action bench-hostile clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,bench]"
	touch $(STAMP)

install: $(STAMP)

# With Slack settings (environment or .env) it serves Slack; without, the playground.
run: $(STAMP)
	@if [ -n "$$SLACK_BOT_TOKEN" ] || grep -qs '^SLACK_BOT_TOKEN=.' .env; then \
	  exec $(VENV)/bin/runbook-bot serve; \
	else \
	  exec $(VENV)/bin/runbook-bot playground; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/runbook-bot lint runbooks

# What the tests need from the machine besides Python: Debian's Chromium for
# the playground's browser tests (installed when missing, as root or through
# `sudo -n`), and PostgreSQL on 127.0.0.1:5432 (see README).
.PHONY: test-setup lock image-test
test-setup:
	@.ci/test-setup

test: test-setup $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/runbook-bot lint runbooks
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -n 4

# requirements.lock / requirements-build.lock: the image's exact dependencies,
# with hashes, resolved from pyproject.toml (tests/test_lock.py fails when stale).
LOCK_ARGS := --generate-hashes --universal --python-version 3.11 -q --custom-compile-command "make lock"
lock: $(STAMP)
	$(PY) -m pip install -q uv
	UV_NATIVE_TLS=1 $(VENV)/bin/uv pip compile pyproject.toml $(LOCK_ARGS) -o requirements.lock
	$(PY) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
	  | UV_NATIVE_TLS=1 $(VENV)/bin/uv pip compile - $(LOCK_ARGS) -o requirements-build.lock

# Builds the image with podman and smoke-tests it (serve, migrate, lint,
# signals, SQLite on a volume, the playground); needs root and PostgreSQL.
image-test: $(STAMP)
	$(PY) .ci/image_test.py

# Benchmarks (not tests; need PostgreSQL like the tests). One command each from a
# fresh clone; extra flags with ARGS="…", e.g. make bench-ack ARGS="--requests 100".
bench: $(STAMP)
	$(PY) bench/run_all.py $(ARGS)

bench-ack: $(STAMP)
	$(PY) bench/ack_latency.py $(ARGS)

bench-click: $(STAMP)
	$(PY) bench/click_to_update.py $(ARGS)

bench-reminders: $(STAMP)
	$(PY) bench/reminder_scale.py $(ARGS)

bench-export: $(STAMP)
	$(PY) bench/timeline_export.py $(ARGS)

bench-chaos: $(STAMP)
	$(PY) bench/crash_chaos.py $(ARGS)

bench-alerts: $(STAMP)
	$(PY) bench/alert_burst.py $(ARGS)

bench-deadlines: $(STAMP)
	$(PY) bench/deadline_scale.py $(ARGS)

bench-gates: $(STAMP)
	$(PY) bench/gate_click.py $(ARGS)

bench-storm: $(STAMP)
	$(PY) bench/storm.py $(ARGS)

bench-action: $(STAMP)
	$(PY) bench/action_run.py $(ARGS)

bench-hostile: $(STAMP)
	$(PY) bench/hostile.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis runbook-bot.db*
