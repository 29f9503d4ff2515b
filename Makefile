# Two commands on a fresh machine: `make run` (pipeline on the bundled sample) and `make test`
# (`make test-fast` leaves out the tests marked slow).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

CHROMIUM ?= /usr/bin/chromium

.PHONY: venv run test test-fast lint unit unit-fast bench sample clean browser

# uv installs the locked environment in seconds where pip takes minutes: it is installed into the
# new venv from the package index, and where that fails (no uv for this platform or index) pip
# installs the same lock.
PIP = $(BIN)/python -m pip --disable-pip-version-check
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@if $(PIP) install --quiet uv >/dev/null 2>&1; then \
	  echo "installing requirements.lock with uv"; \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock && \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .; \
	else \
	  echo "uv not available: installing requirements.lock with pip (a few minutes)"; \
	  $(PIP) install --quiet -r requirements.lock && \
	  $(PIP) install --quiet --no-deps -e .; \
	fi
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/cjm run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint sql

# Every test, the slow ones too (flows, real logs, the wheel, notebooks, the browser).
unit: venv
	$(BIN)/python -m pytest

# The quick suite: every test not marked slow.
unit-fast: venv
	$(BIN)/python -m pytest -m "not slow"

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

test-fast: lint unit-fast

bench: venv
	$(BIN)/python benchmarks/bench_pipeline.py --events 1000000 10000000

sample: venv
	$(BIN)/cjm sample --out data/sample

clean:
	rm -rf $(VENV) output .pytest_cache
