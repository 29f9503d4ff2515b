# Two commands on a fresh machine: `make run` (pipeline on the bundled sample) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: venv run test lint unit bench sample clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/cjm run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint sql

unit: venv
	$(BIN)/python -m pytest

test: lint unit

bench: venv
	$(BIN)/python benchmarks/bench_pipeline.py --events 1000000 10000000

sample: venv
	$(BIN)/cjm sample --out data/sample

clean:
	rm -rf $(VENV) output .pytest_cache
