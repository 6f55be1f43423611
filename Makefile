# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME ?= warehouse
REPORT_DIR ?= demo-report

.PHONY: demo report test test-slow test-chromium test-postgres test-all check lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench,objectlock,shared]'
	touch $(STAMP)

# The demo's S3 server takes the AWS chain's credentials from the environment (dummies: it is local)
demo: export AWS_ACCESS_KEY_ID = demo
demo: export AWS_SECRET_ACCESS_KEY = demo
demo: export AWS_DEFAULT_REGION = us-east-1
demo: $(STAMP)
	-$(BIN)/python demo/dr.py stop $(DEMO_HOME)
	rm -rf $(DEMO_HOME) $(DEMO_HOME)-dr
	$(BIN)/deletedcalls --home $(DEMO_HOME) init
	@echo "== DR targets (SPEC 11): a local 'off-site' folder and an S3 bucket on a real S3 API server (moto, 127.0.0.1)"
	$(BIN)/python demo/dr.py start $(DEMO_HOME)
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
	@echo "== the DR archives: encrypted, on both targets, verified on each (both are on this machine, and dr list says so)"
	$(BIN)/deletedcalls --home $(DEMO_HOME) dr list
	$(BIN)/deletedcalls --home $(DEMO_HOME) dr keys list
	@echo "== the monthly DR drill: restore the newest archive of each target into a temporary file, check it, remove it"
	DELETEDCALLS_USER=cron $(BIN)/deletedcalls --home $(DEMO_HOME) dr drill
	@echo "== what the off-site folder holds (no number in clear: the archive, its wrapped data keys, its manifest)"
	find $(DEMO_HOME)-dr/offsite -type f | sort
	$(BIN)/python demo/dr.py stop $(DEMO_HOME)
	DELETEDCALLS_USER=dpo $(BIN)/deletedcalls --home $(DEMO_HOME) deleted-calls list --limit 5 --format table
	@echo "== an officer lists the deleted Ultravox calls as Ultravox does (its ten fields, its filters)"
	DELETEDCALLS_USER=dpo $(BIN)/deletedcalls --home $(DEMO_HOME) deleted-calls list --api ultravox --page-size 5
	$(BIN)/deletedcalls --home $(DEMO_HOME) runs list
	@echo "== the review report of the demo warehouse (a data-protection officer's; make report writes it again)"
	@$(MAKE) --no-print-directory report

# The review report of the demo warehouse (made by `make demo` when it is missing), written afresh into
# $(REPORT_DIR); prints the page's path. Ten years of months: the charts start at the demo's first deletion.
report: $(STAMP)
	@test -d $(DEMO_HOME) || $(MAKE) --no-print-directory demo
	rm -rf $(REPORT_DIR)
	DELETEDCALLS_USER=dpo $(BIN)/deletedcalls --home $(DEMO_HOME) report --out $(REPORT_DIR) --months 120

# The suite runs on two workers (pytest-xdist; the tests share no file, port or
# environment variable). `make test` leaves out the slow kill, exhaustive and
# property tests (-m slow), the tests that need Debian's Chromium (-m chromium) and
# those that need Debian's PostgreSQL (-m postgres); `make test-all` runs everything,
# and CI runs the four parts (.ci/run), installing chromium and postgresql for the last two.
WORKERS ?= 2
PYTEST := $(BIN)/pytest -q -n $(WORKERS) --dist worksteal

test: $(STAMP)
	$(PYTEST) -m "not slow and not chromium and not postgres"

test-slow: $(STAMP)
	$(PYTEST) -m "slow and not chromium and not postgres"

# A shared warehouse (docs/SCALE.md) on a throwaway PostgreSQL cluster of Debian's packages (apt-get install
# postgresql) and the tests' S3 server; skipped, with the reason, without them.
test-postgres: $(STAMP)
	$(PYTEST) -m postgres

# The review report rendered in /usr/bin/chromium (apt-get install chromium); skipped, with the reason, without it.
test-chromium: $(STAMP)
	$(PYTEST) -m chromium

test-all: $(STAMP)
	$(PYTEST)

lint: $(STAMP)
	$(BIN)/ruff check deletedcalls tests bench demo
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# Before every commit, in about a minute: the linters, the import contracts, and the
# fast tests: the package's shape, the scanner, deliveries, profiles, the CLI's
# surface (help, exit codes, output) and the seams between them; no slow test.
FAST_TESTS := tests/test_architecture.py tests/test_scanning.py tests/test_delivery.py \
	tests/test_profiles.py tests/test_cli.py tests/test_seams.py

check: lint
	$(PYTEST) -m "not slow and not chromium and not postgres" $(FAST_TESTS)

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) $(DEMO_HOME)-dr $(REPORT_DIR) bench/out
