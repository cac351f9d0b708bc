# Infora — the two commands: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test setup assets translations system-deps lint typecheck test-sqlite test-postgres bench clean

run: setup
	$(BIN)/infora run --host 127.0.0.1 --port 5000

test: setup system-deps lint typecheck test-sqlite test-postgres

setup: $(STAMP) assets translations

# The English catalogue is compiled from its .po file (the .mo is generated, not committed).
translations: $(STAMP)
	$(BIN)/pybabel compile -d web/translations

assets:
	bash scripts/build_assets.sh

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) saknas / is missing"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	bash scripts/ensure_system_packages.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

test-sqlite: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-postgres: setup system-deps
	bash scripts/with_postgres.sh $(BIN)/python -m pytest -q -p no:cacheprovider

bench: setup
	$(BIN)/python bench/engine_bench.py
	$(BIN)/python bench/scheduler_bench.py
	$(BIN)/python bench/web_bench.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache node_modules web/static/vendor
