# Two commands on a fresh machine: `make run` (pipeline on the bundled sample) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

CHROMIUM ?= /usr/bin/chromium

.PHONY: venv run test lint unit bench sample clean browser

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

# The report's browser test drives Debian's chromium: install it when missing (as root, or with
# passwordless sudo). Where that is impossible the test skips, except under CI, where it fails.
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then as=""; elif sudo -n true 2>/dev/null; then as="sudo -n"; \
	  else as=none; fi; \
	  if [ "$$as" = none ] || ! command -v apt-get >/dev/null; then \
	    echo "chromium not found and cannot be installed here: the report browser test will skip"; \
	  else \
	    echo "installing chromium (Debian package) for the report browser test"; \
	    $$as env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $$as env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  fi; \
	fi

test: lint browser unit

bench: venv
	$(BIN)/python benchmarks/bench_pipeline.py --events 1000000 10000000

sample: venv
	$(BIN)/cjm sample --out data/sample

clean:
	rm -rf $(VENV) output .pytest_cache
