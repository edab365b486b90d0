# One entry point per thing a person wants to do. `make demo` and `make test` set up the venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

DEMO_DATA ?= data/demo
DEMO_CONFIG ?= dfu/configs/demo.yaml
# Rounds of bench-search (local first, then Ray first, in turn; ~5-7 min each here); it
# reports their median ratios.
BENCH_ROUNDS ?= 3

.PHONY: setup demo test test-slow test-slow-full test-acceptance test-acceptance-full lint bench bench-search bench-scale clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m jobs.demo --data $(DEMO_DATA) --config $(DEMO_CONFIG)

# Two pytest workers: most tests train in one thread. Ray tests (slow) run one at a time: each
# starts its own 2-CPU Ray.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

# The slow and acceptance suites print their slowest tests: CI's 45-minute budget is planned
# from them.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q --durations=12 -m 'slow and not slow_full'

test-slow-full: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# Two workers, one module each (--dist loadfile): the demo's runs on one, the controls (digits,
# shuffled images, permuted labels) on the other.
test-acceptance: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=6 -m acceptance

test-acceptance-full: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m acceptance_full

# ruff's checks, its formatting, and the import layering (pyproject.toml [tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check dfu cluster jobs tests
	$(BIN)/ruff format --check dfu cluster jobs tests
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m jobs.benchmark --out bench/benchmark.json

bench-search: $(STAMP)
	$(BIN)/python -m jobs.benchmark_search --data $(DEMO_DATA) --out bench/search.json --rounds $(BENCH_ROUNDS)

bench-scale: $(STAMP)
	$(BIN)/python -m jobs.benchmark_scale --data data/clinic --out bench/scale.json

clean:
	rm -rf .cache results data/demo
