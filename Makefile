# Two entry points: `make demo` and `make test`; both create .venv and install first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch/torchvision are pinned to the wheels this project is tested with; override for another build.
TORCH ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install browser demo test lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[test,serve,export]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/facemask demo

# The browser test drives Debian's chromium + chromium-driver; installed here when missing (as root).
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium/chromedriver missing: the browser test will be skipped"; fi; \
	fi

test: $(STAMP) browser
	$(VENV)/bin/ruff check src tests benchmarks notebooks
	$(VENV)/bin/ruff format --check src tests benchmarks notebooks
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks notebooks
	$(VENV)/bin/ruff format --check src tests benchmarks notebooks

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks notebooks
	$(VENV)/bin/ruff check --fix src tests benchmarks notebooks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
