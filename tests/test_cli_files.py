"""The command line and the files it writes under bad conditions: abbreviations, keys in hints and JSON,
a full disk, corrupt or unwritable caches and outputs, a busy port, a closed stdout, two runs on one output.

Each gives one clear ``volley: error:`` line on stderr and the README's exit status, never a traceback.
The full-disk cases run twice: with a file object that raises ENOSPC, and (as root) on a real tiny tmpfs.
"""

import contextlib
import errno
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest

import volley
from _job_env import isolate_job
from volley.cli import main
from volley.hooks import cache as cache_mod
from volley.jobs import output as output_mod
from volley.jobs import run as runner_mod

KEY = "sk-test-files-SECRET-0123456789"
MODEL = "gpt-4o-mini"


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    isolate_job(monkeypatch, tmp_path, KEY)


def write_input(path, n, prefix="q"):
    path.write_text("".join(json.dumps({"custom_id": f"{prefix}{i}", "prompt": f"{prefix} {i}"}) + "\n"
                            for i in range(n)))  # fmt: skip
    return path


def run(capsys, *args):
    code = main(["run", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def base(fake, inp, out, *more):
    return (inp, "-m", MODEL, "-o", out, "--api-base", fake.openai_base, "--num-retries", "0", *more)


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def one_error_line(err):
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("volley: error:")]
    assert len(errors) == 1, err
    return errors[0]


def subprocess_env(tmp_path):
    env = {**os.environ, "OPENAI_API_KEY": KEY, "VOLLEY_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("OPENAI_BASE_URL", None)
    return env


# ------------------------------------------------------------------ abbreviations and keys on the command line


def test_abbreviated_options_are_refused_and_the_key_is_not_echoed(fake, tmp_path, capsys):
    inp, out = write_input(tmp_path / "in.jsonl", 2), tmp_path / "out.jsonl"
    for args in (["--api-k", KEY], [f"--api-ke={KEY}"], ["--budget", "1"]):
        with pytest.raises(SystemExit) as exc:
            main(["run", str(inp), "-o", str(out), "-m", MODEL, "--api-base", fake.openai_base, *args])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and "unrecognized arguments" in err and KEY not in err
    assert fake.requests == []


def test_no_verb_accepts_abbreviations():
    from volley.commands import batches, compare, race, run
    from volley.testing import _cli

    for parser in (run.build_parser(), race.build_parser(), compare.build_parser(), batches.build_parser(),
                   _cli.build_parser()):  # fmt: skip
        assert parser.allow_abbrev is False, parser.prog


def test_resume_hint_and_json_summary_mask_every_key_like_value(fake, tmp_path, capsys):
    fake.script(MODEL, failures=[500])
    inp = write_input(tmp_path / "in.jsonl", 2)
    out = tmp_path / f"{KEY}.jsonl"  # the environment's key even shows up in a path: masked all the same
    other = "sk-proj-another-looking-key-ABCDEF012345"
    code, stdout, stderr = run(capsys, *base(fake, inp, out, "--json", "--api-key", other, "--journal",
                                             tmp_path / f"j-{other}.sqlite"))  # fmt: skip
    assert code == 1
    summary = json.loads(stdout)
    assert summary["resume"] and "'<key>'" in summary["resume"]
    for text in (stdout, stderr):
        assert KEY not in text and other not in text


def test_mask_secrets_covers_flags_abbreviations_and_key_shapes(monkeypatch):
    from volley.commands.common import mask_secrets, resume_command

    monkeypatch.setenv("COHERE_API_KEY", "cohereplainkeywithoutprefix0123")
    argv = ["in.jsonl", "--api-key=sk-a-0123456789abcdef", "--api-k", "plainsecretvalue99", "--note",
            "AIza" + "x" * 35, "cohereplainkeywithoutprefix0123"]  # fmt: skip
    hint = resume_command("run", argv)
    masked = mask_secrets(" ".join(argv), argv)
    for text in (hint, masked):
        for secret in ("sk-a-0123456789abcdef", "plainsecretvalue99", "AIza" + "x" * 35, "cohereplainkeywithout"):
            assert secret not in text, text
    assert hint.startswith("volley run in.jsonl")


# ------------------------------------------------------------------ a full disk


class _FullDisk:
    """A text file whose writes fail with ENOSPC after ``room`` writes (a disk that fills up mid-run)."""

    def __init__(self, real, room):
        self.real, self.room = real, room

    def write(self, text):
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= 1
        return self.real.write(text)

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


def test_output_disk_full_mid_run_stops_with_one_line_and_resumes(fake, tmp_path, capsys, monkeypatch):
    fake.script(MODEL, latency=0.01)
    real_open = output_mod.open_private
    monkeypatch.setattr(output_mod, "open_private", lambda *a, **k: _FullDisk(real_open(*a, **k), room=5))
    inp, out = write_input(tmp_path / "in.jsonl", 30), tmp_path / "out.jsonl"
    code, stdout, stderr = run(capsys, *base(fake, inp, out, "--concurrency", "2", "--json"))
    line = one_error_line(stderr)
    assert code == 1 and "cannot write the output" in line and "No space left on device" in line
    s = json.loads(stdout)
    assert s["error"] and s["exit_code"] == 1 and s["done"] >= 6 and s["done"] < 30
    assert s["resume"]
    sent_before = len(fake.requests)
    monkeypatch.setattr(output_mod, "open_private", real_open)  # space again
    code, stdout, stderr = run(capsys, *base(fake, inp, out, "--json"))
    assert code == 0, stderr
    assert sorted(r["custom_id"] for r in records(out)) == sorted(f"q{i}" for i in range(30))
    assert len(fake.requests) - sent_before == 30 - s["done"]  # what the journal held was not sent again


def test_journal_disk_full_at_setup_is_a_setup_error(fake, tmp_path, capsys, monkeypatch):
    def full(self, meta, rows):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(runner_mod.Journal, "create", full)
    inp, out = write_input(tmp_path / "in.jsonl", 3), tmp_path / "out.jsonl"
    code, _, stderr = run(capsys, *base(fake, inp, out))
    line = one_error_line(stderr)
    assert code == 2 and "cannot write the journal" in line and "disk is full" in line and fake.requests == []


@contextlib.contextmanager
def tmpfs(path, size):
    """A real tmpfs of ``size`` at ``path`` (root only); skips the test where it cannot be mounted."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_real_full_disk_mid_run_then_resume(fake, tmp_path, capsys):
    fake.script(MODEL, content=" ".join(["word"] * 400))
    inp = write_input(tmp_path / "in.jsonl", 150)
    with tmpfs(tmp_path / "small", "256k") as small:
        out = small / "out.jsonl"
        code, stdout, stderr = run(capsys, *base(fake, inp, out, "--concurrency", "4", "--json"))
        line = one_error_line(stderr)
        assert code == 1 and ("No space left on device" in line or "disk is full" in line), line
        s = json.loads(stdout)
        assert 0 < s["done"] < 150 and s["error"]
        done_before = s["done"]
        subprocess.run(["mount", "-o", "remount,size=16m", str(small)], check=True)
        sent_before = len(fake.requests)
        code, stdout, stderr = run(capsys, *base(fake, inp, out, "--json"))
        assert code == 0, stderr
        assert sorted(r["custom_id"] for r in records(out)) == sorted(f"q{i}" for i in range(150))
        assert len(fake.requests) - sent_before <= 150 - done_before + 4  # at most the ones in flight again


# ------------------------------------------------------------------ caches and outputs that cannot be used


def test_a_corrupt_cache_is_one_clear_error_before_sending(fake, tmp_path, capsys):
    bad = tmp_path / "corrupt.sqlite"
    bad.write_bytes(b"this is not a database\n" * 100)
    inp, out = write_input(tmp_path / "in.jsonl", 2), tmp_path / "out.jsonl"
    code, _, stderr = run(capsys, *base(fake, inp, out, "--cache", "--cache-path", bad))
    line = one_error_line(stderr)
    assert code == 2 and str(bad) in line and "not a database" in line and fake.requests == []
    with pytest.raises(cache_mod.CacheError, match="not a database"):
        volley.completion(MODEL, [{"role": "user", "content": "x"}], api_base=fake.openai_base, cache=True,
                          cache_path=str(bad))  # fmt: skip
    assert fake.requests == []


@pytest.fixture
def readonly_dir(tmp_path):
    """A directory nobody can write in: chmod for a normal user; a read-only tmpfs for root (who ignores modes)."""
    path = tmp_path / "ro"
    if os.geteuid() != 0:
        path.mkdir()
        (path / "existing.sqlite").write_bytes(b"")
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    with tmpfs(path, "1m"):
        (path / "existing.sqlite").write_bytes(b"")
        if subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount the tmpfs read-only")
        yield path


def test_an_unwritable_cache_is_one_clear_error_before_sending(fake, tmp_path, capsys, readonly_dir):
    inp, out = write_input(tmp_path / "in.jsonl", 2), tmp_path / "out.jsonl"
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for cache_path in (readonly_dir / "new.sqlite", readonly_dir / "existing.sqlite", blocker / "cache.sqlite"):
        code, _, stderr = run(capsys, *base(fake, inp, out, "--cache", "--cache-path", cache_path))
        line = one_error_line(stderr)
        assert code == 2 and "cache" in line and str(cache_path) in line, line
    assert fake.requests == []


def test_an_unwritable_or_special_output_fails_before_sending(fake, tmp_path, capsys, readonly_dir):
    inp = write_input(tmp_path / "in.jsonl", 2)
    code, _, stderr = run(capsys, *base(fake, inp, readonly_dir / "out.jsonl"))
    assert code == 2 and "not writable" in one_error_line(stderr)
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    code, _, stderr = run(capsys, *base(fake, inp, fifo))
    assert code == 2 and "not a regular file" in one_error_line(stderr)
    assert fake.requests == [] and fifo.exists() and not fifo.is_file()  # left as it was


# ------------------------------------------------------------------ fake-server port, broken pipe, two runs


def test_fake_server_on_a_busy_port_says_so(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["fake-server", "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in one_error_line(err)


@pytest.mark.parametrize("verb", ["run", "race"])
def test_a_closed_stdout_is_one_line_and_keeps_the_exit_status(fake, tmp_path, verb):
    inp = write_input(tmp_path / "in.jsonl", 3)
    if verb == "run":
        args = ["run", str(inp), "-m", MODEL, "-o", str(tmp_path / "out.jsonl"), "--api-base", fake.openai_base,
                "--json"]  # fmt: skip
    else:
        args = ["race", "-m", MODEL, "--api-base", fake.openai_base, "--json", "hello"]
    proc = subprocess.Popen([sys.executable, "-m", "volley.cli", *args], env=subprocess_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    proc.stdout.close()  # like `| head -c0`: nobody reads stdout
    err = proc.stderr.read()
    code = proc.wait(timeout=60)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert "broken pipe" in err and code == (0 if verb == "run" else 1), (code, err)
    if verb == "run":
        assert len(records(tmp_path / "out.jsonl")) == 3  # the job itself finished


def test_two_runs_on_one_output_with_different_journals_do_not_both_send(fake, tmp_path, capsys):
    fake.script(MODEL, latency=0.3)
    inp, out = write_input(tmp_path / "in.jsonl", 8), tmp_path / "out.jsonl"
    first = subprocess.Popen(
        [sys.executable, "-m", "volley.cli", "run", str(inp), "-m", MODEL, "-o", str(out), "--api-base",
         fake.openai_base, "--concurrency", "1", "--journal", str(tmp_path / "j1.sqlite"), "--quiet"],
        env=subprocess_env(tmp_path),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not fake.requests:  # the first run is sending
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        code, _, stderr = run(capsys, *base(fake, inp, out, "--journal", tmp_path / "j2.sqlite", "--overwrite"))
        assert code == 2 and "another volley run is using this output" in one_error_line(stderr)
        assert first.wait(timeout=60) == 0
    finally:
        if first.poll() is None:
            first.kill()
    sent = [r.json["messages"][-1]["content"] for r in fake.requests]
    assert sorted(sent) == sorted(f"q {i}" for i in range(8))  # each item sent once, by the first run
    assert len(records(out)) == 8


def test_the_output_lock_is_held_while_a_run_runs(fake, tmp_path, capsys):
    fcntl = pytest.importorskip("fcntl")
    inp, out = write_input(tmp_path / "in.jsonl", 2), tmp_path / f"out-{uuid.uuid4().hex[:6]}.jsonl"
    with open(f"{out}.lock", "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running `volley run` on this -o holds it
        code, _, stderr = run(capsys, *base(fake, inp, out, "--journal", tmp_path / "elsewhere.sqlite"))
        assert code == 2 and "another volley run" in one_error_line(stderr) and fake.requests == []
    assert run(capsys, *base(fake, inp, out, "--journal", tmp_path / "elsewhere.sqlite"))[0] == 0
