# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME ?= warehouse

.PHONY: demo test test-slow test-all check lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench,objectlock]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_HOME)
	$(BIN)/deletedcalls --home $(DEMO_HOME) init
	@echo "== the nightly job over data/ (ee-2026-03-01.csv is over its reject limit on purpose: exit 3 is expected)"
	$(BIN)/deletedcalls --home $(DEMO_HOME) run jobs/nightly.toml --inbox data --as-of 2026-05-15 --min-age-seconds 0 || test $$? -eq 3
	$(BIN)/deletedcalls --home $(DEMO_HOME) files list
	$(BIN)/deletedcalls --home $(DEMO_HOME) sql "SELECT fileName, lineNumber, reasons FROM rejected_rows ORDER BY 1, 2"
	$(BIN)/deletedcalls --home $(DEMO_HOME) sql "SELECT * FROM deleted_calls_summary ORDER BY 1, 2, 3"
	@echo "== an analyst's own DuckDB client on the published analyst store (read-only; it holds no deleted call)"
	$(BIN)/python -c 'import duckdb; duckdb.connect("$(DEMO_HOME)/published/analyst.duckdb", read_only=True).sql("SELECT carrier, count(*) AS liveCalls FROM calls GROUP BY ALL ORDER BY 1").show()'
	@echo "== an analyst asking for deleted calls is refused (exit 4 is expected)"
	$(BIN)/deletedcalls --home $(DEMO_HOME) sql "SELECT target FROM deleted_calls" || test $$? -eq 4
	DELETEDCALLS_USER=dpo $(BIN)/deletedcalls --home $(DEMO_HOME) sql "SELECT userActivityLog, kind, cdrFile FROM pending_deletions"
	$(BIN)/deletedcalls --home $(DEMO_HOME) dr list
	DELETEDCALLS_USER=dpo $(BIN)/deletedcalls --home $(DEMO_HOME) deleted-calls list --limit 5 --format table
	@echo "== an officer lists the deleted Ultravox calls as Ultravox does (its ten fields, its filters)"
	DELETEDCALLS_USER=dpo $(BIN)/deletedcalls --home $(DEMO_HOME) deleted-calls list --api ultravox --page-size 5
	$(BIN)/deletedcalls --home $(DEMO_HOME) runs list

# The suite runs on two workers (pytest-xdist; the tests share no file, port or
# environment variable). `make test` leaves out the slow kill, exhaustive and
# property tests (-m slow); `make test-all` runs everything, and CI runs both
# halves (.ci/run).
WORKERS ?= 2
PYTEST := $(BIN)/pytest -q -n $(WORKERS) --dist worksteal

test: $(STAMP)
	$(PYTEST) -m "not slow"

test-slow: $(STAMP)
	$(PYTEST) -m slow

test-all: $(STAMP)
	$(PYTEST)

lint: $(STAMP)
	$(BIN)/ruff check deletedcalls tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# Before every commit, in about a minute: the linters, the import contracts, and the
# fast tests: the package's shape, the scanner, deliveries, profiles, the CLI's
# surface (help, exit codes, output) and the seams between them; no slow test.
FAST_TESTS := tests/test_architecture.py tests/test_scanning.py tests/test_delivery.py \
	tests/test_profiles.py tests/test_cli.py tests/test_seams.py

check: lint
	$(PYTEST) -m "not slow" $(FAST_TESTS)

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) bench/out
