# Upline developer and CI entry points; `make help` lists them.

PY ?= .venv/bin/python
PORT ?= 8000
# Card payments in the demo: auto (your Stripe test keys if UPLINE_STRIPE_SECRET_KEY and
# UPLINE_STRIPE_PUBLISHABLE_KEY are set, else localstripe, a local fake Stripe), localstripe, off.
STRIPE ?= auto
PYTEST_ARGS ?=

SHELL := /bin/bash
# Prerequisites build on each other (venv before services), so never run them in parallel.
.NOTPARALLEL:
.DEFAULT_GOAL := help

# WeasyPrint's native libraries, fonts for PDFs, Chromium for browser tests, pg_dump/psql,
# PgBouncer for tests/test_pgbouncer.py, gettext for the translation catalogs (make messages).
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 libjpeg62-turbo \
	libopenjp2-7 fonts-dejavu-core chromium postgresql-client poppler-utils pgbouncer gettext

SERVICES_ENV := .var/services.env

.PHONY: help system-deps venv services demo test lint bench clean messages

help:
	@echo "make system-deps  install missing Debian packages (root only)"
	@echo "make venv         create .venv and install the project with its dev extra"
	@echo "make services     resolve PostgreSQL/Redis into $(SERVICES_ENV)"
	@echo "make demo         set up demo data, run worker + beat + runserver on PORT=$(PORT)"
	@echo "                  (card payments: STRIPE=auto|localstripe|off, default auto)"
	@echo "make test         run pytest (PYTEST_ARGS='...' to pass options)"
	@echo "make lint         ruff check and the architecture contracts (lint-imports)"
	@echo "make messages     update the French and German catalogs (locale/) and compile them"
	@echo "make bench        provisioning and routing benchmarks with 200 tenants"
	@echo "make clean        stop embedded services and remove .var/"

system-deps:
	@if ! command -v dpkg >/dev/null 2>&1; then \
		echo "system-deps: no dpkg here; install the equivalents of: $(SYSTEM_PACKAGES)" >&2; \
		exit 0; \
	fi; \
	missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do \
		dpkg -s "$$pkg" 2>/dev/null | grep -q '^Status: install ok installed' \
			|| missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" -ne 0 ]; then \
		echo "system-deps: not root; please install:$$missing" >&2; \
		exit 0; \
	fi; \
	echo "system-deps: installing$$missing"; \
	apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing

venv: .venv/.installed

.venv/bin/python:
	python3 -m venv .venv

# The stamp makes pip run only when pyproject.toml changed since the last good install.
.venv/.installed: pyproject.toml | .venv/bin/python
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

services:
	$(PY) devtools/services.py

demo: export DJANGO_SETTINGS_MODULE := config.settings.dev
# Links in e-mails (also those the worker sends) carry the port the demo serves on.
demo: export UPLINE_PUBLIC_PORT := $(PORT)
demo: system-deps venv services
	@mkdir -p .var/log
	. $(SERVICES_ENV) \
	&& trap 'kill $$worker $$beat $$localstripe_pid 2>/dev/null; wait $$worker $$beat 2>/dev/null' EXIT \
	&& trap 'exit 130' INT TERM \
	&& stripe_env=$$($(PY) devtools/demo_stripe.py start --mode '$(STRIPE)' --web-port $(PORT)) \
	&& eval "$$stripe_env" \
	&& $(PY) manage.py upline_migrate \
	&& $(PY) manage.py upline_demo --port $(PORT) \
	&& { $(PY) -m celery -A config worker -l info >.var/log/worker.log 2>&1 & worker=$$!; } \
	&& { $(PY) -m celery -A config beat -l info --schedule .var/celerybeat-schedule \
		>.var/log/beat.log 2>&1 & beat=$$!; } \
	&& echo "demo: worker, beat (and localstripe) log to .var/log/; serving on port $(PORT)" \
	&& $(PY) manage.py runserver 0.0.0.0:$(PORT)

test: system-deps venv services
	@echo "test: architecture contracts (lint-imports)"; .venv/bin/lint-imports --no-cache | tail -n 1; test $${PIPESTATUS[0]} -eq 0 || { .venv/bin/lint-imports --no-cache; exit 1; }
	@. $(SERVICES_ENV) || exit 1; \
	rc=0; DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests ran" >&2; exit 1; fi; \
	exit $$rc

lint: venv
	$(PY) -m ruff check .
	.venv/bin/lint-imports --no-cache

# Catalogs: collect every marked string of the code and templates into locale/<lang>/…/django.po
# (existing translations kept, entries no longer used dropped), then compile the .mo files that
# are committed. Translate the new entries (tests/test_i18n_catalogs.py fails on any left empty).
MESSAGE_IGNORES := --ignore=.venv --ignore=.var --ignore=node_modules
messages: export DJANGO_SETTINGS_MODULE := config.settings.dev
messages: system-deps venv
	$(PY) manage.py makemessages -l fr -l de $(MESSAGE_IGNORES) --no-obsolete
	$(PY) manage.py compilemessages $(MESSAGE_IGNORES)

bench: export DJANGO_SETTINGS_MODULE := config.settings.bench
bench: system-deps venv services
	. $(SERVICES_ENV) \
	&& $(PY) tests/bench/provisioning.py --tenants 200 \
	&& $(PY) tests/bench/routing.py --tenants 200

# --stop needs no third-party package, so any python3 will do once .venv is gone.
clean:
	@if [ -d .var ]; then \
		if [ -x "$(PY)" ]; then py="$(PY)"; else py=python3; fi; \
		"$$py" devtools/services.py --stop; \
	fi
	rm -rf .var
