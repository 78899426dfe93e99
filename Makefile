# Every target creates .venv when it is missing, so a fresh clone needs only `make`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mlci demo "$$(mktemp -d -t mlci-demo-XXXXXX)"

test: $(STAMP) chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser test renders report.html in headless Chromium: install Debian's package when
# it is missing (as root, or through sudo).
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo="sudo -n"; fi; \
	  echo "installing chromium for the browser test (apt-get)"; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	    || { echo "make: chromium is missing and could not be installed: run 'sudo apt-get install chromium'" >&2; exit 1; }; }

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet dvc
	$(BIN)/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/ruff check mlci tests benchmarks
	$(BIN)/ruff format --check mlci tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .mlci build dist
