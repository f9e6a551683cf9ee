# Two commands for a newcomer: `make run` and `make test`. Each installs what it
# needs into .venv first (idempotent), so they work on a fresh clone.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench bench-ack bench-click bench-reminders bench-export bench-chaos bench-alerts bench-deadlines bench-gates bench-storm clean

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

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/runbook-bot lint runbooks
	$(PY) -m pytest -q -n 4

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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis runbook-bot.db*
