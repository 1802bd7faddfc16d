# The two commands of the README: `make demo` runs the main job on the embedded default
# (SQLite, Maildir, no server); `make test` installs what the tests need and runs them all.
PYTHON ?= python3
CONFIG := config.example.toml
MAILPROC := $(PYTHON) -m mailproc --config $(CONFIG)

.PHONY: install demo test lint

install:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e .

demo: install
	$(MAILPROC) db upgrade
	$(PYTHON) scripts/deliver-examples examples var/inbox
	$(MAILPROC) poll --once
	$(MAILPROC) tickets list
	@echo "Replies written to var/outbox/new:" && ls -1 var/outbox/new

test:
	scripts/install-test-deps
	scripts/ensure-postgres
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	# Two processes (more on a larger machine), each test file kept on one: 7 minutes instead of 12.
	$(PYTHON) -m pytest -n auto --maxprocesses 4 --dist loadfile

lint:
	ruff check mailproc tests bench scripts/deliver-examples
	ruff format --check mailproc tests bench
	mypy
