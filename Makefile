# The README's two commands: `make demo` and `make test`. Both create .venv and install first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED := $(abspath ../shared)
DEMO_OUT := demo-output

# Real TAEF2 weights for tests and the demo, where the shared folder exists.
ifneq ($(wildcard $(SHARED)/models/taef2),)
export STYLECLOAK_MODELS_DIR ?= $(SHARED)/models
endif

.PHONY: install test lint demo bench bench-load soak-s3 clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# Exactly these builds: pip here takes them from local disk and never downloads others.
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[all,dev]'
	# Debian's Chromium for the browser end-to-end test (Playwright drives it; it downloads no browser).
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		|| echo "warning: could not install chromium; the browser test will fail" >&2
	touch $@

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/typecheck.py

test: lint
	$(BIN)/pytest

demo: install
	$(BIN)/python examples/demo.py --out $(DEMO_OUT)

# Benchmarks print their figures (and ratios against a baseline measured in the same run).
bench: install
	$(BIN)/python benchmarks/bench_cloak.py
	$(BIN)/python benchmarks/bench_batch.py
	$(BIN)/python benchmarks/bench_protect.py
	$(BIN)/python benchmarks/bench_middleware.py
	$(BIN)/python benchmarks/bench_rights.py
	$(BIN)/python benchmarks/bench_largest.py

bench-load: install
	$(BIN)/python benchmarks/bench_load.py

soak-s3: install
	$(BIN)/python benchmarks/soak_s3.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
