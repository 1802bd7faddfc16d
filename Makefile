# The two commands of the README: `make demo` runs the main job on the embedded default
# (SQLite, Maildir, no server); `make test` installs what the tests need and runs them all.
#
# Everything runs in the virtual environment .venv, made with $(PYTHON): Debian's and
# Ubuntu's own python3 refuse `pip install` into themselves (PEP 668). Installs follow the
# pins of constraints.txt, and happen again only when pyproject.toml or the pins change (the
# stamps .venv/.installed*). Another interpreter: rm -rf .venv; make demo PYTHON=python3.12
PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
PIP_INSTALL := $(VENV_PYTHON) -m pip install --quiet --disable-pip-version-check -c constraints.txt
CONFIG := config.example.toml
MAILPROC := $(VENV_PYTHON) -m mailproc --config $(CONFIG)

.PHONY: install demo web test lint constraints

install: $(VENV)/.installed

$(VENV_PYTHON):
	scripts/make-venv $(PYTHON) $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(VENV_PYTHON)
	$(PIP_INSTALL) -e .
	touch $@

# The package with one of its extras: .venv/.installed-test, .venv/.installed-dev.
$(VENV)/.installed-%: pyproject.toml constraints.txt | $(VENV_PYTHON)
	$(PIP_INSTALL) -e '.[$*]'
	touch $@

demo: install
	$(MAILPROC) db upgrade
	$(VENV_PYTHON) scripts/deliver-examples examples var/inbox
	$(MAILPROC) poll --once
	$(MAILPROC) tickets list
	@echo "Replies written to var/outbox/new:" && ls -1 var/outbox/new

# The web view of the demo's desk at http://127.0.0.1:8080/, after `make demo`: prints a
# login link for the demo's coordinator, then serves until Ctrl-C.
WEB_DEMO_STAFF := coordenacao@compras.example.gov.br
web: install
	@echo "Open this link to log in as $(WEB_DEMO_STAFF) (valid 15 minutes):"
	@$(MAILPROC) login-link $(WEB_DEMO_STAFF)
	$(MAILPROC) web

test: $(VENV)/.installed-test
	scripts/install-test-deps
	scripts/ensure-postgres
	# Two processes (more on a larger machine), each test file kept on one: 7 minutes instead of 12.
	$(VENV_PYTHON) -m pytest -n auto --maxprocesses 4 --dist loadfile

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check mailproc tests bench scripts/deliver-examples
	$(VENV)/bin/ruff format --check mailproc tests bench
	$(VENV)/bin/mypy

# Pins the runtime dependencies anew (a clean virtual environment made with $(PYTHON)).
constraints:
	scripts/pin-constraints $(PYTHON)
