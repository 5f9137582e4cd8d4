# innlab: `make report` installs and builds the report; `make test` installs and runs the checks;
# `make docs` builds the documentation site into docs/_build/html.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --constraint constraints.txt
PRESET ?= quick
OUT ?= report
DATA_DIR ?=
# docs: "force" runs every tutorial; "cache" reuses the outputs of unchanged tutorials
DOCS_EXECUTE ?= force

.PHONY: install test lint report bench docs clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(PIP) --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-docs: $(VENV)/.installed
	$(PIP) --quiet -e ".[docs]"
	touch $@

install: $(VENV)/.installed

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src/innlab

# one torch thread per test process: the tests' small tensors run faster without thread hand-offs
test: lint
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

report: install
	$(BIN)/innlab report --preset $(PRESET) --out $(OUT) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_peers.py --threads 1 2

# the API reference and the tutorials (executed), warnings as errors; open docs/_build/html/index.html
docs: $(VENV)/.installed-docs
	OMP_NUM_THREADS=1 $(BIN)/sphinx-build -E -W --keep-going -q -b html \
		-D nb_execution_mode=$(DOCS_EXECUTE) docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis docs/_build
