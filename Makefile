# Two entry points: `make demo` and `make test`; both create .venv and install first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch/torchvision are pinned to the wheels this project is tested with; override for another build.
TORCH ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install browser demo test test-fast lint format clean weights

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

# The shipped default weights (src/facemask_rcnn/default_weights, see its MODEL_CARD.md), rebuilt
# from ../shared/datasets: the masks model (30 min), its static int8 graph, then the face head.
SHARED_DATA ?= ../shared/datasets
WEIGHTS := src/facemask_rcnn/default_weights
WEIGHTS_BUILD := build/weights
weights: $(STAMP)
	rm -rf $(WEIGHTS_BUILD) && mkdir -p $(WEIGHTS_BUILD)
	$(VENV)/bin/facemask train --data $(SHARED_DATA)/maskedface/training --time-budget 32 --out $(WEIGHTS_BUILD)/masks
	$(VENV)/bin/facemask export --weights $(WEIGHTS_BUILD)/masks/best.pt --int8 static --calibration $(SHARED_DATA)/maskedface/training --out $(WEIGHTS_BUILD)/masks.onnx
	$(VENV)/bin/facemask train --config configs/faces.yaml --data "$$(cd benchmarks && ../$(PY) scenes_split.py ../$(WEIGHTS_BUILD)/scenes)" --data $(SHARED_DATA)/maskedface/training --out $(WEIGHTS_BUILD)/head
	cp $(WEIGHTS_BUILD)/masks.onnx $(WEIGHTS)/masks.onnx
	cp $(WEIGHTS_BUILD)/head/best.pt $(WEIGHTS)/face_head.pt

# Everything but the slow tests (training, notebook, browser, two processes): under a minute.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks notebooks
	$(VENV)/bin/ruff format --check src tests benchmarks notebooks

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks notebooks
	$(VENV)/bin/ruff check --fix src tests benchmarks notebooks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
