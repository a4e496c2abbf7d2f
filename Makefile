# radix4 — every target creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JOBS ?= 2

.PHONY: test demo bench results synth verilog clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) -q

demo: $(STAMP)
	$(BIN)/radix4 demo

bench: $(STAMP)
	$(BIN)/python -m scripts.bench

results: $(STAMP)
	$(BIN)/python -m scripts.results

synth: $(STAMP)
	$(BIN)/radix4 synth

clean:
	rm -rf build .pytest_cache
