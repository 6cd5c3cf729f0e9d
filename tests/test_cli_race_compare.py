"""``volley race`` and ``volley compare`` in-process against the fake server."""

import io
import json

import pytest

from volley.cli import main

KEY = "sk-test-cli-SECRET-0123456789"


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def cli(capsys, *args):
    code = main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_race_prints_the_fastest_answer_and_every_latency(fake, capsys):
    fake.script("gpt-4o-mini", latency=0.02)
    fake.script("gpt-4o", latency=2.0)
    fake.script("gpt-4.1", failures=[400])
    code, out, err = cli(capsys, "race", "-m", "gpt-4o", "-m", "gpt-4o-mini", "-m", "gpt-4.1", "hello there",
                         "--api-base", fake.openai_base, "--num-retries", "0")  # fmt: skip
    assert code == 0, err
    assert out.startswith("winner: openai/gpt-4o-mini (")
    assert "echo: hello there" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines["openai/gpt-4o"].split()[1:] == ["-", "cancelled"]
    assert lines["openai/gpt-4o-mini"].endswith("won")
    assert "failed (BadRequestError" in lines["openai/gpt-4.1"]
    assert fake.disconnects >= 1 or any(r.model == "gpt-4o" for r in fake.requests)


def test_race_json_and_all_failed(fake, capsys):
    fake.script("gpt-4o-mini", latency=0.01)
    fake.script("gpt-4o", latency=0.5)
    code, out, _ = cli(capsys, "race", "-m", "gpt-4o-mini", "-m", "gpt-4o", "hi", "--api-base", fake.openai_base,
                       "--json", "--temperature", "0", "--max-tokens", "8")  # fmt: skip
    data = json.loads(out)
    assert code == 0 and data["winner"] == "openai/gpt-4o-mini" and data["content"] == "echo: hi"
    assert {m["model"] for m in data["models"]} == {"openai/gpt-4o-mini", "openai/gpt-4o"}
    assert fake.requests[0].json["temperature"] == 0 and fake.requests[0].json["max_tokens"] == 8

    fake.script("*", fail=500)
    code, out, _ = cli(capsys, "race", "-m", "gpt-4o-mini", "-m", "gpt-4o", "hi", "--api-base", fake.openai_base,
                       "--num-retries", "0")  # fmt: skip
    assert code == 1 and "every model failed" in out


def test_race_hedge_starts_models_one_by_one(fake, capsys):
    fake.script("gpt-4o-mini", latency=0.01)
    fake.script("gpt-4o", latency=0.5)
    code, out, _ = cli(capsys, "race", "-m", "gpt-4o-mini", "-m", "gpt-4o", "hi", "--api-base", fake.openai_base,
                       "--hedge-after", "1", "--json")  # fmt: skip
    data = json.loads(out)
    assert code == 0 and [m["status"] for m in data["models"]] == ["won", "not started"]
    assert len(fake.requests) == 1


def test_race_reads_the_prompt_from_stdin(fake, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    code, out, _ = cli(capsys, "race", "-m", "gpt-4o-mini", "--api-base", fake.openai_base)
    assert code == 0 and "echo: from stdin" in out


def test_compare_shows_every_answer_with_latency_tokens_and_cost(fake, capsys):
    fake.script("gpt-4o", latency=0.05)
    fake.script("gpt-4.1", failures=[401])
    code, out, err = cli(capsys, "compare", "-m", "gpt-4o-mini", "-m", "gpt-4o", "-m", "gpt-4.1", "-m",
                         "openai/house", "what now", "--api-base", fake.openai_base, "--num-retries", "0")  # fmt: skip
    assert code == 0, err
    header, _rule, *rows = out.splitlines()[:6]
    assert header.split() == ["model", "latency", "in", "out", "cost", "answer"]
    by_model = {r.split()[0]: r for r in rows}
    assert "$0.0000" in by_model["openai/gpt-4o-mini"] and "echo: what now" in by_model["openai/gpt-4o-mini"]
    assert " s " in by_model["openai/gpt-4o"]
    assert "failed: AuthenticationError" in by_model["openai/gpt-4.1"]
    assert "n/a" in by_model["openai/house"]  # no price known for this model
    assert "== openai/gpt-4o ==\necho: what now" in out


def test_compare_json(fake, capsys):
    code, out, _ = cli(capsys, "compare", "-m", "gpt-4o-mini", "-m", "gpt-4o", "hi", "--api-base",
                       fake.openai_base, "--json")  # fmt: skip
    rows = json.loads(out)["models"]
    assert code == 0 and [r["model"] for r in rows] == ["openai/gpt-4o-mini", "openai/gpt-4o"]
    for r in rows:
        assert r["ok"] and r["content"] == "echo: hi" and r["cost_usd"] > 0 and r["prompt_tokens"] > 0


@pytest.mark.parametrize("verb", ["race", "compare"])
def test_setup_errors_exit_2_without_sending(fake, capsys, monkeypatch, verb):
    code, _, err = cli(capsys, verb, "-m", "gpt-4o-mini", "-m", "nope", "hi", "--api-base", fake.openai_base)
    assert code == 2 and err.startswith("volley: error:") and "Traceback" not in err
    monkeypatch.delenv("OPENAI_API_KEY")
    code, _, err = cli(capsys, verb, "-m", "gpt-4o-mini", "hi", "--api-base", fake.openai_base)
    assert code == 2 and "OPENAI_API_KEY" in err
    assert fake.requests == []
    assert KEY not in err
