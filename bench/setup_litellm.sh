#!/usr/bin/env bash
# A separate venv for the benchmark-only comparison clients (LiteLLM and its dependencies),
# kept out of `make test`.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv-litellm
.venv-litellm/bin/pip install -q --upgrade pip
.venv-litellm/bin/pip install -q litellm
