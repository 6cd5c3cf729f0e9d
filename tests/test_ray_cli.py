"""``volley run --ray``: what it cannot do is refused before Ray starts, and ``--dry-run`` sends nothing."""

from __future__ import annotations

import json

import pytest

from volley.cli import main

KEY = "sk-ray-cli-SECRET-0123456789"


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("VOLLEY_REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)


def _lines(path, n=3):
    path.write_text("".join(json.dumps({"custom_id": f"c{i}", "prompt": f"p{i}"}) + "\n" for i in range(n)))
    return path


def test_dry_run_on_ray_sends_nothing_and_starts_no_cluster(fake, tmp_path, env, capsys):
    inp = _lines(tmp_path / "in.jsonl")
    args = ["run", str(inp), "-m", "gpt-4o-mini", "-o", "out.jsonl", "--ray", "127.0.0.1:1", "--api-base",
            fake.openai_base, "--dry-run", "--json"]  # fmt: skip
    assert main(args) == 0  # no cluster listens at 127.0.0.1:1: a dry run never looks for one
    est = json.loads(capsys.readouterr().out)
    assert est["models"][0]["items"] == 3
    assert fake.requests == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # no output, results dir or journal


@pytest.mark.parametrize(
    ("extra", "inp", "out", "said"),
    [
        (["--prompt", "Q: {question}"], "in.jsonl", "out.jsonl", "--prompt"),
        (["--schema", "x.json"], "in.jsonl", "out.jsonl", "--schema"),
        ([], "in.csv", "out.jsonl", "in.csv"),
        ([], "in.jsonl", "out.parquet", "out.parquet"),
        (["--report"], "in.jsonl", "out.jsonl", "--report"),
    ],
    ids=["prompt", "schema", "csv-input", "parquet-output", "report"],
)
def test_what_a_ray_job_cannot_do_is_refused_before_anything_starts(fake, tmp_path, env, capsys, extra, inp, out,
                                                                    said):  # fmt: skip
    source = tmp_path / inp
    if inp.endswith(".csv"):
        source.write_text("id,question\nq0,hi\n")
    else:
        _lines(source)
    for dry in ([], ["--dry-run"]):
        code = main(["run", str(source), "-m", "gpt-4o-mini", "-o", out, "--ray", "127.0.0.1:1", "--api-base",
                     fake.openai_base, *extra, *dry])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and said in err and "--ray" in err, (dry, err)
    assert fake.requests == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [inp]
