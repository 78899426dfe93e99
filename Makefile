# Every target creates .venv when it is missing, so a fresh clone needs only `make`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mlci demo "$$(mktemp -d -t mlci-demo-XXXXXX)"

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet dvc
	$(BIN)/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/ruff check mlci tests benchmarks
	$(BIN)/ruff format --check mlci tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .mlci build dist
