"""``volley fake-server`` prints the environment that points every provider at it, and it works."""

from __future__ import annotations

import os
import subprocess
import sys


def test_fake_server_prints_working_exports() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "volley.cli", "fake-server", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("volley fake server on http://127.0.0.1:")
        assert proc.stdout.readline().startswith("# point each provider at it")
        env = {}
        for _ in range(8):
            name, _, value = proc.stdout.readline().strip().removeprefix("export ").partition("=")
            env[name] = value
        assert set(env) >= {"OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "COHERE_BASE_URL", "GEMINI_API_BASE"}
        code = (
            "import volley\n"
            "for m in ('gpt-4o-mini', 'claude-3-5-haiku-latest', 'command-r', 'gemini-2.0-flash'):\n"
            "    r = volley.completion(m, [{'role': 'user', 'content': 'hi'}], max_tokens=5)\n"
            "    print(r.provider, r.choices[0].message.content)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True,
                             text=True, timeout=60, check=True).stdout  # fmt: skip
        assert [line.split(" ", 1)[0] for line in out.splitlines()] == [
            "openai", "anthropic", "cohere", "gemini",
        ]  # fmt: skip
        assert all("echo: hi" in line for line in out.splitlines()), out
    finally:
        proc.terminate()
        proc.wait(timeout=10)
