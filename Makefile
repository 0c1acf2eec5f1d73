# netdiffus: two commands set everything up on a fresh machine.
#   make demo   create .venv, install the CPU build of PyTorch and netdiffus, run the demo
#   make test   the same set-up, then the test suite
#   make lint   the same set-up, then the linter (CI runs it too)
#   make bench  the benchmark protocol (benchmarks/), writes benchmarks/results/<date>.md
#   make bench-lowdata  B4, the low-data benchmark (benchmarks/lowdata.py; LOWDATA_ARGS picks pieces)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of PyTorch. On a GPU machine choose a CUDA build instead, e.g.
#   make TORCH_INDEX=--index-url=URL demo   (URL: the PyTorch wheel index of your CUDA version)
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
RUN_DIR ?= runs/demo
DEVICE ?= cpu

.PHONY: venv demo test lint test-all test-gpu bench bench-quick bench-lowdata clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/netdiffus demo -o $(RUN_DIR) --device $(DEVICE)

test: venv
	$(PY) -m pytest -q

# style and likely bugs ([tool.ruff] in pyproject.toml), and the library's types ([tool.mypy]);
# CI runs it before the tests
lint: venv
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

test-all: venv
	$(PY) -m pytest -q -m "slow or not slow"

# on a GPU machine, with a CUDA build of PyTorch (see TORCH_INDEX above)
test-gpu: venv
	$(PY) -m pytest -q -m gpu

bench: venv
	$(PY) -m benchmarks.run

bench-quick: venv
	$(PY) -m benchmarks.run --quick

# B4 on B1 at 10 traces per class, 3 subset seeds, as in benchmarks/results/2026-12-07-lowdata-B1.md
# (the three fits dominate: 67 min on the loaded 2-core machine); e.g. LOWDATA_ARGS="--datasets B1,B2-packets --n 5,10,25,all"
LOWDATA_ARGS ?= --datasets B1 --n 10 --seeds 0,1,2 --k 1,2,4 --generators netdiffus,augment,copy+noise
bench-lowdata: venv
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.lowdata $(LOWDATA_ARGS)

clean:
	rm -rf $(VENV) runs build dist .pytest_cache
