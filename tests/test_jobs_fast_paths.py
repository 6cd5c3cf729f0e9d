"""The cheap per-item paths of ``volley run`` keep their results: output bytes, line ids, the collector
threshold while requests run, the CLI's loop, and one template per model for items without parameters."""

import asyncio
import gc
import json
import os
import re
import threading
import time
from pathlib import Path

import pytest

from _job_env import isolate_job
from volley import collector
from volley.cli import main
from volley.commands.common import run_cancellable
from volley.jobs import io
from volley.jobs.options import RunOptions
from volley.jobs.setup import JobSetup

KEY = "sk-test-fast-paths-SECRET-0123456789"
MODEL = "gpt-4o-mini"


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    isolate_job(monkeypatch, tmp_path, KEY)


def _stdlib(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


@pytest.mark.parametrize(
    "obj",
    [
        {"a": "naïve — 東京 🙂", "b": '\x00\x1f\x7f\u2028\u2029"\\\n\r\t\b\f', "c": None, "d": True},
        {"floats": [0.1, 1e-07, 1e16, 1.5e300, -0.0, 123456789.125, float("nan"), float("inf")]},
        {"ints": [0, -1, 2**63, 2**64 + 1, -(2**70)], "nested": [[{"x": [{}]}], []], "e": ""},
        ["a", 1, 2.5, None, {"k": {"k": {"k": "v"}}}],
        "just a string",
    ],
)
def test_output_lines_are_the_standard_librarys_bytes(obj):
    assert io.dumps(obj) == _stdlib(obj)


def test_an_output_line_of_a_run_is_byte_for_byte_the_standard_encoding(fake, tmp_path, capsys):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps({"custom_id": f"é{i}", "prompt": f"Grüße {i} \u2028"}) + "\n" for i in range(5)))
    code = main(["run", str(inp), "-m", MODEL, "-o", str(out), "--api-base", fake.openai_base, "-q"])
    assert code == 0, capsys.readouterr().err
    lines = out.read_bytes().decode("utf-8").split("\n")  # not splitlines(): U+2028 is written as it is
    assert len(lines) == 6 and lines[-1] == ""
    for line in lines[:-1]:
        assert _stdlib(json.loads(line)) == line + "\n"


def test_output_line_ids_are_random_hex_and_unique():
    ids = [io.batch_request_id() for _ in range(20_000)]
    assert all(re.fullmatch(r"batch_req_[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_output_line_ids_do_not_follow_the_random_modules_seed():
    import random

    random.seed(7)
    first = io.batch_request_id()
    random.seed(7)
    assert io.batch_request_id() != first


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_draws_other_ids_than_its_parent():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        try:
            os.write(write, ",".join(io.batch_request_id() for _ in range(5)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 10_000).decode().split(",")
    os.close(read)
    parent = [io.batch_request_id() for _ in range(5)]
    assert len(child) == 5 and not set(child) & set(parent)


def test_the_young_gc_threshold_is_raised_while_a_run_sends_and_restored_after(fake, tmp_path, capsys):
    if not gc.isenabled() or gc.get_threshold()[0] >= collector.MIN_THRESHOLD:
        pytest.skip("the collector is off or already at the raised threshold")
    before = gc.get_threshold()
    fake.script(MODEL, latency=0.15)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(4)))
    seen: set[int] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.add(gc.get_threshold()[0])
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        code = main(["run", str(inp), "-m", MODEL, "-o", str(out), "--api-base", fake.openai_base, "-q",
                     "--concurrency", "1"])  # fmt: skip
    finally:
        stop.set()
        watcher.join()
    assert code == 0, capsys.readouterr().err
    assert collector.MIN_THRESHOLD in seen
    assert gc.get_threshold() == before


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_the_cli_loop_is_uvloop_with_the_fast_extra_and_asyncio_without(monkeypatch):
    pytest.importorskip("uvloop")
    monkeypatch.delenv("VOLLEY_FAST", raising=False)
    assert run_cancellable(_loop_module).startswith("uvloop")
    monkeypatch.setenv("VOLLEY_FAST", "0")
    assert run_cancellable(_loop_module).startswith("asyncio")


def test_items_without_parameters_share_their_models_template(fake, tmp_path):
    inp = tmp_path / "in.jsonl"
    lines = [{"prompt": "a"}, {"prompt": "b", "temperature": 0.3}, {"prompt": "c"}, {"prompt": "d"}]
    inp.write_text("".join(json.dumps(x) + "\n" for x in lines))
    opts = RunOptions(input=Path(inp), output=tmp_path / "out.jsonl", model=MODEL, api_base=fake.openai_base)
    setup = JobSetup(opts)
    setup.check()
    setup.scan()
    calls = {item.line: setup.build(item) for item in setup.items()}
    plain = [calls[n].request for n in (1, 3, 4)]
    assert len({id(c.route) for n, c in calls.items() if n != 2}) == 1  # one template's route for the plain items
    assert all("temperature" not in r.body for r in plain)
    assert calls[2].request.body["temperature"] == 0.3
    assert len(setup._templates) == 2  # the job's own, and the one of the line with parameters


@pytest.mark.parametrize("keep", [64 * 2**20, 0], ids=["kept", "too many to keep"])
def test_the_run_sends_the_requests_the_setup_pass_built(fake, tmp_path, capsys, monkeypatch, keep):
    # the setup pass parses every line and builds its request; the run sends those (the input is read once),
    # unless they are too many to keep: then it reads the input again. The answers are the same either way.
    from volley.jobs import setup as setup_mod

    monkeypatch.setattr(setup_mod, "KEEP_BUILT_BYTES", keep)
    reads = []
    items = JobSetup.items
    monkeypatch.setattr(JobSetup, "items", lambda self, only=None: reads.append(only) or items(self, only))
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps({"custom_id": f"c{i}", "prompt": f"q{i}"}) + "\n" for i in range(30)))
    code = main(["run", str(inp), "-m", MODEL, "-o", str(out), "--api-base", fake.openai_base, "-q"])
    assert code == 0, capsys.readouterr().err
    assert len(reads) == (1 if keep else 2)
    got = {r["custom_id"]: r["response"]["body"]["choices"][0]["message"]["content"]
           for r in map(json.loads, out.read_text().splitlines())}  # fmt: skip
    assert sorted(got) == sorted(f"c{i}" for i in range(30))
    assert all(f"q{i}" in got[f"c{i}"] for i in range(30))  # each answer is its own line's (the fake echoes)
    assert sorted(r.json["messages"][0]["content"] for r in fake.requests) == sorted(f"q{i}" for i in range(30))
