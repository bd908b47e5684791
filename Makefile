# pinback: `make run` starts the sandbox and the controller; `make test` runs everything CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
PORT   ?= 4566

.PHONY: setup run test test-unit lint fmt bench alerts fuzz chaos mutate flaky clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "pinback needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "pip==26.3"
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,sandbox]'
	@rm -f $(VENV)/.installed-*
	@touch $@

run: setup
	@bash scripts/run-sandbox.sh $(BIN) $(PORT)

lint: setup
	$(BIN)/ruff check daemon tests examples
	$(BIN)/ruff format --check daemon tests examples
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: setup
	$(BIN)/ruff format daemon tests examples
	$(BIN)/ruff check --fix daemon tests examples

test: lint
	$(BIN)/pytest

# The fast loop: the pure core and the file models, no servers (well under a minute).
test-unit: setup
	$(BIN)/pytest -q tests/unit

bench: setup
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,sandbox,bench]'
	$(BIN)/python -m tests.bench

# Mutation testing of the pure core and the safety logic ([tool.mutmut] in pyproject.toml):
# about 4 minutes on 2 cores; prints the score per module and the surviving mutants.
mutate: setup
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,sandbox,mutate]'
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 > .mutmut.log 2>&1 || (tail -40 .mutmut.log; exit 1)
	$(BIN)/python -m tests.mutation_score

# Flakiness: every test that starts the controller as a process, RUNS times, two runs at once
# (about 2 hours for 20 runs on 2 cores); exit 1 if any run failed.
RUNS ?= 20
flaky: setup
	$(BIN)/python -m tests.flaky $(RUNS)

alerts: setup
	$(BIN)/python -m daemon.views.alerts config/pinback.yaml > config/alerts.yml

clean:
	rm -rf $(VENV) .sandbox .chaos-storm.json mutants .mutmut.log .pytest_cache .mypy_cache .ruff_cache *.egg-info

fuzz: setup
	PINBACK_FUZZ_EXAMPLES=20 $(BIN)/pytest -q tests/unit/test_fuzz.py

# The long variants of the reliability tests, each bounded and stopping by itself (~20 min):
# storms four times as long, 20x the fuzz cases, the write storm and every crash point.
chaos: setup
	PINBACK_STORM_SECONDS=60 PINBACK_STORM_REPORT=.chaos-storm.json PINBACK_FUZZ_EXAMPLES=20 \
	  $(BIN)/pytest -q -s -p no:cacheprovider --timeout 1800 tests/e2e/test_storm.py tests/e2e/test_load.py \
	  tests/unit/test_fuzz.py tests/e2e/test_crash.py
