"""llama-cpp-python's OpenAI-compatible server, loaded with the CPU-safe settings of ``volley.local.runtime``.

Takes exactly the arguments of ``python -m llama_cpp.server`` (it runs that module); only the model
parameter ``use_extra_bufts`` differs, chosen as for volley's own workers (off on AMX CPUs, where
llama.cpp 0.3.36 built natively segfaults on the first prompt)::

    python -m volley.local.server --model path/to/model.gguf --host 127.0.0.1 --port 8000

Needs ``pip install 'volley-llm[local-server]'``.
"""

from __future__ import annotations

import runpy
import sys

from .runtime import extra_bufts_default, model_params


def main() -> None:
    use, _ = extra_bufts_default()
    sys.argv[0] = "llama_cpp.server"
    with model_params(use_extra_bufts=use):
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
