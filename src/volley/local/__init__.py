"""Local models (``local/smollm2``, ``local/<path>.gguf``) run by llama-cpp-python in a worker process.

- :mod:`.files`: finding and checking model files (no llama import; runs in the caller's process).
- :mod:`.pool`: the caller's side: one worker process per model file, requests sent one at a time,
  a crash of the worker turned into a typed error for the request it was running, then a restart.
- :mod:`.worker` / :mod:`.runtime`: the worker process and the llama-cpp-python code it runs (the
  only place that imports ``llama_cpp``), with load options that are safe on every CPU.
- :mod:`.server`: llama-cpp-python's OpenAI-compatible server with the same safe load options.

The mapping between OpenAI-shape requests and llama-cpp-python lives in ``volley.providers.local``.
"""
