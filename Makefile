# Kizuna: `make run` serves the demo network, `make test` runs every check.
# Both work from a fresh Debian 12 machine: deploy/dev/bootstrap.sh installs (as root) or names
# the Debian packages they need before anything uses Python, and deploy/dev/services.sh starts
# PostgreSQL and Redis and makes the development role (deploy/dev/defaults.env).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# KIZUNA_DEV_POSTGRES (the local server, as the development role) and friends.
include deploy/dev/defaults.env
LOAD_DATABASE_URL ?= $(KIZUNA_DEV_POSTGRES)/kizuna_load
BENCH_DATABASE_URL ?= $(KIZUNA_DEV_POSTGRES)/kizuna_bench

.PHONY: run test lint typecheck pytest messages bench clean bootstrap bootstrap-test screenshots schemathesis

# The Debian packages of `make run` (Python 3.11 with venv, PostgreSQL, Redis, gettext), and of
# the tests (those, plus Chromium, Japanese fonts, Node.js and npm).
bootstrap:
	@PYTHON=$(PYTHON) bash deploy/dev/bootstrap.sh run

bootstrap-test:
	@PYTHON=$(PYTHON) bash deploy/dev/bootstrap.sh test

$(STAMP): pyproject.toml | bootstrap
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

messages: $(STAMP)
	@command -v msgfmt >/dev/null || echo "gettext is missing (apt-get install gettext): pages will show Japanese only"
	@! command -v msgfmt >/dev/null || $(BIN)/python manage.py compilemessages --ignore=.venv -v 0

# PostgreSQL and Redis are started first unless KIZUNA_EMBEDDED asks for the embedded mode;
# run.py then chooses the mode and says why.
run: $(STAMP) messages
	@case "$${KIZUNA_EMBEDDED:-}" in 1|true|yes|on) ;; *) bash deploy/dev/services.sh --soft ;; esac
	$(BIN)/python deploy/dev/run.py

lint: $(STAMP) lint-js
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# ESLint on the page scripts (eslint.config.js), with the versions of package-lock.json.
NEED_NPM := command -v npm >/dev/null || { echo "npm is missing: install Debian's packages nodejs npm (apt-get install nodejs npm)" >&2; exit 1; }
.PHONY: lint-js
lint-js: node_modules/.installed
	@$(NEED_NPM)
	npx eslint .

node_modules/.installed: package-lock.json
	@$(NEED_NPM)
	npm ci --no-audit --no-fund
	touch $@

typecheck: $(STAMP)
	$(BIN)/mypy .

pytest: bootstrap-test $(STAMP) messages
	bash deploy/dev/services.sh
	$(BIN)/pytest --create-db

# bootstrap-test first: one `apt-get update` for everything a fresh machine lacks.
test: bootstrap-test lint typecheck pytest

# The tests write screenshots only to tests/browser/artifacts/ (ignored); this refreshes the
# README's one in docs/ from a run of the test that takes it.
screenshots: bootstrap-test $(STAMP) messages
	bash deploy/dev/services.sh
	$(BIN)/pytest --create-db tests/browser/test_web_app.py -k test_nurse_edits_the_yellow_card
	cp tests/browser/artifacts/docs/screenshot-patient.png docs/screenshot-patient.png
	$(BIN)/pytest tests/browser/test_contact_book_pages.py -k "first_unread or unread_counts or audit_page"
	mkdir -p docs/screenshots
	for page in home patient-page audit; do for size in tablet phone; do \
		cp tests/browser/artifacts/book-$$page-$$size.png docs/screenshots/$$page-$$size.png; done; done

# The API fuzzed against its schema, longer than the run inside `make pytest` (5 examples per
# operation, under a minute): 50 per operation, a few minutes (tests/test_schemathesis.py).
schemathesis: bootstrap-test $(STAMP)
	bash deploy/dev/services.sh
	SCHEMATHESIS_MAX_EXAMPLES=$${SCHEMATHESIS_MAX_EXAMPLES:-50} $(BIN)/pytest tests/test_schemathesis.py --create-db

clean:
	rm -rf $(VENV) staticfiles

# Backups (deploy/backup/, docs/backup.md): `make backup` writes a generation of DATABASE_URL
# and MEDIA_ROOT under KIZUNA_BACKUP_ROOT (default var/backups) and keeps the newest
# KIZUNA_BACKUP_KEEP (7). `make restore BACKUP=<generation>` (default: the newest) restores it
# into RESTORE_DATABASE_URL and RESTORE_MEDIA_ROOT (default: DATABASE_URL and MEDIA_ROOT),
# which must be empty unless FORCE=1; `make verify-backup BACKUP=...` checks one in place.
.PHONY: backup restore verify-backup
backup: $(STAMP)
	$(BIN)/python deploy/backup/kizuna_backup.py backup

restore: $(STAMP)
	$(BIN)/python deploy/backup/kizuna_backup.py restore $(BACKUP) $(if $(filter 1 yes true,$(FORCE)),--force)

verify-backup: $(STAMP)
	$(BIN)/python deploy/backup/kizuna_backup.py verify $(BACKUP)

# The messaging benchmark: its own Redis, database and Daphne processes; ~2 minutes.
# Results in bench/results/ (see docs/bench.md).
bench: $(STAMP)
	DATABASE_URL=$(BENCH_DATABASE_URL) bash deploy/dev/services.sh
	$(BIN)/python -m bench.run --database-url $(BENCH_DATABASE_URL)

# The photo benchmark (issue 12): its own Redis, database, Daphne and media worker; ~3 minutes.
# Results in bench/results/<date>-media.json (see docs/bench.md, "Photos").
.PHONY: bench-media
bench-media: $(STAMP)
	DATABASE_URL=$(BENCH_DATABASE_URL)_media bash deploy/dev/services.sh
	$(BIN)/python -m bench.media --database-url $(BENCH_DATABASE_URL)_media

# The bounded fault test (Redis and a Daphne killed mid-run), under ~4 minutes.
.PHONY: test-load
test-load: bootstrap-test $(STAMP)
	DATABASE_URL=$(LOAD_DATABASE_URL) bash deploy/dev/services.sh
	DATABASE_URL=$(LOAD_DATABASE_URL) $(BIN)/pytest tests/load -m load --create-db
