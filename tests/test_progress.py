"""Progress display with the ``progress`` extra (rich) installed: on stderr, never stdout, and redrawn at the end.

These tests need rich (it is in the ``dev`` and ``progress`` extras); without it they fail rather than skip,
so the suite always exercises the rich view.
"""

import json
import os
import pty
import subprocess
import sys
import threading
import types

import rich.console

import volley
from volley.engine.progress import Progress, _RichView

KEY = "sk-test-progress-SECRET-0123456789"


def test_the_rich_bar_goes_to_stderr_and_ends_on_the_final_count(capsys):
    p = Progress(5, show=True, label="job")
    assert isinstance(p._view, _RichView)
    for i in range(5):
        p.result(i, object())
    p.close()
    out, err = capsys.readouterr()
    assert out == ""
    assert "5/5" in err and "done 5" in err


def test_batch_completion_progress_leaves_stdout_alone(fake, capsys):
    prompts = [[{"role": "user", "content": f"p{i}"}] for i in range(6)]
    out = volley.batch_completion("gpt-4o-mini", prompts, api_base=fake.openai_base, api_key=KEY, progress=True)
    assert all(isinstance(r, volley.ModelResponse) for r in out)
    stdout, stderr = capsys.readouterr()
    assert stdout == "" and "6/6" in stderr


def test_volley_run_json_is_valid_while_the_bar_draws_on_a_terminal(fake, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(6)))
    env = {**os.environ, "OPENAI_API_KEY": KEY, "VOLLEY_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("OPENAI_BASE_URL", None)
    master, slave = pty.openpty()  # stderr is a terminal: `volley run` shows its bar there
    cmd = [sys.executable, "-m", "volley.cli", "run", str(inp), "-m", "gpt-4o-mini", "-o", str(tmp_path / "o.jsonl"),
           "--api-base", fake.openai_base, "--json"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []

    def drain():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    stdout, _ = proc.communicate(timeout=60)
    reader.join(10)
    os.close(master)
    assert proc.returncode == 0
    summary = json.loads(stdout)  # nothing but the JSON on stdout
    assert summary["done"] == 6
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert "6/6" in terminal and "volley run: 6 items" in terminal


def test_the_final_state_is_drawn_in_jupyter_too(monkeypatch):
    """rich's stop() skips the last refresh in Jupyter; the view must draw the final count itself."""
    shown = []

    class Output:  # a stand-in for ipywidgets.Output
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def clear_output(self, wait=False):
            pass

    def display(obj):
        text = getattr(obj, "text", None)
        if text is not None:
            shown.append(text)

    ipython = types.ModuleType("IPython")
    ipython_display = types.ModuleType("IPython.display")
    ipython_display.display = display
    ipython.display = ipython_display
    widgets = types.ModuleType("ipywidgets")
    widgets.Output = Output
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython_display)
    monkeypatch.setitem(sys.modules, "ipywidgets", widgets)
    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)

    p = Progress(10, show=True, label="nb")
    assert p._view._progress.console.is_jupyter
    for i in range(10):  # a burst: the throttle draws only the first result before close()
        p.result(i, object())
    p.close()
    drawn = [text for text in shown if text.strip()]
    assert drawn, "nothing was drawn"
    assert "10/10" in drawn[-1] and "done 10" in drawn[-1], drawn[-1]
