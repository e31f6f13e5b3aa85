# Kizuna: `make run` serves the demo network, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest messages bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

messages: $(STAMP)
	@command -v msgfmt >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q gettext >/dev/null; } \
	  || echo "gettext is missing (apt-get install gettext): pages will show Japanese only"
	@! command -v msgfmt >/dev/null || $(BIN)/python manage.py compilemessages --ignore=.venv -v 0

run: $(STAMP) messages
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

pytest: $(STAMP) messages
	bash deploy/dev/services.sh
	$(BIN)/pytest --create-db

test: lint typecheck pytest

clean:
	rm -rf $(VENV) staticfiles kizuna.sqlite3

# The messaging benchmark: its own Redis, database and Daphne processes; ~2 minutes.
# Results in bench/results/ (see docs/bench.md).
bench: $(STAMP)
	bash deploy/dev/services.sh
	$(BIN)/python -m bench.run

# The bounded fault test (Redis and a Daphne killed mid-run), under ~4 minutes.
.PHONY: test-load
test-load: $(STAMP)
	bash deploy/dev/services.sh
	DATABASE_URL=$${LOAD_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/kizuna_load} \
	  $(BIN)/pytest tests/load -m load --create-db
