"""``volley run`` over tables: CSV/TSV/Parquet/Arrow/HF/JSONL rows in, a table (or Batch lines) out, one row per
input row in order, after kill -9 and resume too; --schema, --dry-run (nothing sent), --report, the summary."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import volley
from _job_env import isolate_job
from volley.cli import main
from volley.tables import open_table

KEY = "sk-test-tables-SECRET-0123456789"
MODEL = "gpt-4o-mini"


@pytest.fixture
def env(monkeypatch, tmp_path):
    isolate_job(monkeypatch, tmp_path, KEY)


def write_csv(path, n):
    path.write_text("id,question\n" + "".join(f"q{i},What is {i} plus {i}?\n" for i in range(n)))
    return path


def subprocess_env(tmp_path):
    e = {**os.environ, "OPENAI_API_KEY": KEY, "VOLLEY_CACHE_DIR": str(tmp_path / "cache")}
    e.pop("OPENAI_BASE_URL", None)
    return e


def done_in_journal(journal):
    if not journal.exists():
        return set()
    db = sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {cid for (cid,) in db.execute("SELECT custom_id FROM items WHERE state = 'done'")}
    except sqlite3.OperationalError:  # killed while the job was being created
        return set()
    finally:
        db.close()


def asked(records):
    """The question of each request the fake server received, as its row id (``q7``)."""
    return [r.json["messages"][-1]["content"].split("What is ")[1].split(" ")[0] for r in records]


def wait_for(cond, proc, timeout=60.0):
    end = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, f"volley run ended early: {proc.communicate()}"
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_a_csv_of_1000_questions_becomes_a_parquet_of_answers_killed_and_resumed(fake, tmp_path):
    """The issue's done-when: one command, kill -9 midway, the same command again: 1000 rows in order."""
    n = 1000
    fake.script(MODEL, latency=(0.002, 0.02), seed=7)
    inp, out = write_csv(tmp_path / "questions.csv", n), tmp_path / "answers.parquet"
    journal = tmp_path / "answers.parquet.journal.sqlite"
    cmd = [sys.executable, "-m", "volley.cli", "run", str(inp), "-m", MODEL, "-o", str(out), "--prompt",
           "Answer briefly: {question}", "--id-column", "id", "--api-base", fake.openai_base, "--concurrency", "16",
           "-q"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=subprocess_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: len(done_in_journal(journal)) >= 300, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    done = done_in_journal(journal)
    before = len(fake.requests)
    assert 300 <= len(done) < n, "the kill did not land midway"

    finished = subprocess.run(cmd, env=subprocess_env(tmp_path), capture_output=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    again = [f"q{i}" for i in asked(fake.requests[before:])]
    assert not done & set(again), "a row answered before the kill was sent again"
    assert len(again) == n - len(done)

    t = pq.read_table(out)
    assert t.num_rows == n
    assert t.column("id").to_pylist() == [f"q{i}" for i in range(n)]
    assert t.column("question").to_pylist() == [f"What is {i} plus {i}?" for i in range(n)]
    assert t.column("answer").to_pylist() == [f"echo: Answer briefly: What is {i} plus {i}?" for i in range(n)]
    for name, kind in (("prompt_tokens", "int64"), ("completion_tokens", "int64"), ("cached_tokens", "int64"),
                       ("cost_usd", "double"), ("latency_s", "double"), ("attempts", "int64")):  # fmt: skip
        assert str(t.schema.field(name).type) == kind, name
    costs, prompt = t.column("cost_usd").to_pylist(), t.column("prompt_tokens").to_pylist()
    completion = t.column("completion_tokens").to_pylist()
    assert all(c > 0 for c in costs) and all(p > 0 for p in prompt) and all(c > 0 for c in completion)
    for c, p, k in zip(costs, prompt, completion):  # each row's cost is its own tokens at gpt-4o-mini's price
        assert c == pytest.approx((p * 0.15 + k * 0.60) / 1e6)
    assert t.column("error_type").null_count == n
    assert (out.stat().st_mode & 0o777) == 0o600


def make_input(tmp_path, kind, n):
    """The same n questions as a table of ``kind``; the extra arguments that say what to send."""
    rows = {"id": [f"q{i}" for i in range(n)], "question": [f"What is {i} plus {i}?" for i in range(n)]}
    send = ["--prompt", "Q: {question}", "--id-column", "id"]
    if kind == "csv":
        return write_csv(tmp_path / "in.csv", n), send
    if kind == "tsv":
        p = tmp_path / "in.tsv"
        p.write_text("id\tquestion\n" + "".join(f"{a}\t{b}\n" for a, b in zip(rows["id"], rows["question"])))
        return p, send
    if kind == "parquet":
        pq.write_table(pa.table(rows), tmp_path / "in.parquet")
        return tmp_path / "in.parquet", send
    if kind == "arrow":
        from pyarrow import feather

        feather.write_feather(pa.table(rows), tmp_path / "in.arrow")
        return tmp_path / "in.arrow", send
    if kind == "hf":
        datasets = pytest.importorskip("datasets")
        datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "in_ds"))
        return tmp_path / "in_ds", send
    if kind == "jsonl-rows":  # plain rows: --prompt makes them table rows
        p = tmp_path / "in.jsonl"
        p.write_text("".join(json.dumps({"id": a, "question": b, "meta": {"k": a}}) + "\n"
                             for a, b in zip(rows["id"], rows["question"])))  # fmt: skip
        return p, send
    if kind == "jsonl-requests":  # today's request lines, with metadata
        p = tmp_path / "in.jsonl"
        p.write_text("".join(json.dumps({"custom_id": a, "prompt": f"Q: {b}", "metadata": {"k": a}}) + "\n"
                             for a, b in zip(rows["id"], rows["question"])))  # fmt: skip
        return p, []
    raise AssertionError(kind)


def read_output(path, fmt):
    """The output's rows as dicts (Batch lines: custom_id and answer)."""
    if fmt == "batch":
        out = []
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            body = (rec.get("response") or {}).get("body") or {}
            out.append({"id": rec["custom_id"], "answer": body["choices"][0]["message"]["content"]})
        return out
    return list(open_table(path, "jsonl" if fmt == "jsonl" else None).rows())


CASES = [  # (input kind, output name, extra arguments, output format)
    ("csv", "out.parquet", [], "parquet"),
    ("csv", "out.csv", [], "csv"),
    ("tsv", "out.tsv", [], "tsv"),
    ("parquet", "out.jsonl", [], "jsonl"),
    ("arrow", "out.arrow", [], "arrow"),
    ("hf", "out.parquet", [], "parquet"),
    ("jsonl-rows", "out.jsonl", [], "jsonl"),
    ("jsonl-requests", "out.parquet", [], "parquet"),
    ("jsonl-requests", "out.jsonl", [], "batch"),
    ("csv", "out.jsonl", ["--output-format", "batch"], "batch"),
]


@pytest.mark.parametrize(("kind", "name", "extra", "fmt"), CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_kill_9_at_random_moments_then_resume_keeps_one_row_per_input_row(fake, tmp_path, kind, name, extra, fmt):
    import random

    n = 40
    rng = random.Random(f"{kind}{fmt}")
    fake.script(MODEL, latency=(0.005, 0.04), seed=5)
    inp, send = make_input(tmp_path, kind, n)
    out, journal = tmp_path / name, tmp_path / f"{name}.journal.sqlite"
    cmd = [sys.executable, "-m", "volley.cli", "run", str(inp), "-m", MODEL, "-o", str(out), *send, *extra,
           "--api-base", fake.openai_base, "--concurrency", "4", "-q"]  # fmt: skip
    for k in range(2):  # killed once midway (some rows done), once at a random moment; each resumed by the next
        before, done_before = len(fake.requests), done_in_journal(journal)
        proc = subprocess.Popen(cmd, env=subprocess_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if k == 0:
            wait_for(lambda: len(done_in_journal(journal)) >= 5, proc)
        else:
            time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert k or 5 <= len(done_in_journal(journal)) < n, "the first kill did not land midway"
        assert not done_before & {f"q{i}" for i in asked(fake.requests[before:])}, "a finished row was sent again"
    done, before = done_in_journal(journal), len(fake.requests)
    finished = subprocess.run(cmd, env=subprocess_env(tmp_path), capture_output=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert not done & {f"q{i}" for i in asked(fake.requests[before:])}
    rows = read_output(out, fmt)
    ids = [r.get("id") or r.get("custom_id") for r in rows]
    if fmt == "batch":  # Batch lines come in the order results arrived: one per item
        assert sorted(ids) == sorted(f"q{i}" for i in range(n))
    else:
        assert ids == [f"q{i}" for i in range(n)]
        assert all(r["error_type"] in (None, "") for r in rows)
        assert all(float(r["cost_usd"]) > 0 and int(r["prompt_tokens"]) > 0 for r in rows)
    by_id = {i: r for i, r in zip(ids, rows)}
    assert all(by_id[f"q{i}"]["answer"] == f"echo: Q: What is {i} plus {i}?" for i in range(n))
    if kind in ("jsonl-requests", "jsonl-rows") and fmt != "batch":  # metadata carried through
        key = "metadata" if kind == "jsonl-requests" else "meta"
        assert [json.loads(r[key]) if isinstance(r[key], str) else r[key] for r in rows] == [
            {"k": f"q{i}"} for i in range(n)
        ]


def test_ctrl_c_leaves_a_complete_table_with_unfinished_rows_marked(fake, tmp_path):
    n = 20
    fake.script(MODEL, latency=0.2)
    inp, out = write_csv(tmp_path / "in.csv", n), tmp_path / "out.parquet"
    cmd = [sys.executable, "-m", "volley.cli", "run", str(inp), "-m", MODEL, "-o", str(out), "--prompt", "{question}",
           "--id-column", "id", "--api-base", fake.openai_base, "--concurrency", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=subprocess_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    wait_for(lambda: len(done_in_journal(tmp_path / "out.parquet.journal.sqlite")) >= 2, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "to resume, run the same command:" in stderr and "Traceback" not in stderr
    rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows] == [f"q{i}" for i in range(n)]
    unfinished = [r for r in rows if r["error_type"] == "NotFinished"]
    assert 0 < len(unfinished) < n - 1 and all(r["answer"] is None for r in unfinished)
    assert subprocess.run(cmd, env=subprocess_env(tmp_path), capture_output=True, timeout=120).returncode == 0
    assert pq.read_table(out).column("error_type").null_count == n


def test_a_missing_column_is_named_before_anything_is_sent(fake, tmp_path, env, capsys):
    inp = write_csv(tmp_path / "in.csv", 3)
    code = main(["run", str(inp), "-m", MODEL, "-o", "out.parquet", "--prompt", "Q: {questoin}",
                 "--api-base", fake.openai_base])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "'questoin'" in err and "columns: id, question" in err and "did you mean 'question'" in err
    assert fake.requests == [] and not (tmp_path / "out.parquet").exists()


def test_a_table_needs_a_model_and_a_clashing_column_needs_a_prefix(fake, tmp_path, env, capsys):
    inp = tmp_path / "in.csv"
    inp.write_text("question,answer\nWhy?,Because\n")
    assert main(["run", str(inp), "-o", "o.csv", "--prompt", "{question}", "--api-base", fake.openai_base]) == 2
    assert "-m MODEL" in capsys.readouterr().err
    assert main(["run", str(inp), "-m", MODEL, "-o", "o.csv", "--prompt", "{question}"]) == 2
    assert "--prefix" in capsys.readouterr().err
    code = main(["run", str(inp), "-m", MODEL, "-o", "o.csv", "--prompt", "{question}", "--prefix", "new_",
                 "--api-base", fake.openai_base, "-q"])  # fmt: skip
    assert code == 0
    row = next(open_table(tmp_path / "o.csv").rows())
    assert row["answer"] == "Because" and row["new_answer"] == "echo: Why?"


def test_schema_fields_become_columns(fake, tmp_path, env):
    fake.script(MODEL, content='{"sentiment": "positive", "stars": 5}')
    schema = tmp_path / "review.schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"sentiment": {"type": "string"},
                                  "stars": {"type": "integer"}}, "required": ["sentiment", "stars"]}))  # fmt: skip
    inp = tmp_path / "in.csv"
    inp.write_text("review\nGreat phone\nLoved it\n")
    code = main(["run", str(inp), "-m", MODEL, "-o", "out.parquet", "--prompt", "Review: {review}", "--schema",
                 str(schema), "--api-base", fake.openai_base, "-q"])  # fmt: skip
    assert code == 0
    rows = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [(r["review"], r["sentiment"], r["stars"]) for r in rows] == [("Great phone", "positive", 5),
                                                                        ("Loved it", "positive", 5)]  # fmt: skip
    assert fake.requests[0].json["response_format"]["type"] == "json_schema"
    assert list(rows[0])[:4] == ["review", "answer", "sentiment", "stars"]


def test_dry_run_sends_nothing_writes_nothing_and_prices_each_model(fake, tmp_path, env, capsys):
    from volley.tokens import count_tokens

    n = 25
    inp = write_csv(tmp_path / "in.csv", n)
    args = ["run", str(inp), "-m", MODEL, "-o", "out.parquet", "--prompt", "Q: {question}", "--max-tokens", "40",
            "--api-base", fake.openai_base, "--dry-run"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "25 items to send" in text and "openai/gpt-4o-mini" in text and "prompt tokens" in text
    assert all(len(line) <= 80 for line in text.splitlines())
    assert main([*args, "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    assert fake.requests == []  # nothing was sent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # no journal, output or lock
    m = est["models"][0]
    prompts = [count_tokens("openai/gpt-4o-mini", [{"role": "user", "content": f"Q: What is {i} plus {i}?"}])
               for i in range(n)]  # fmt: skip
    assert m["prompt_tokens"] == sum(p[0] for p in prompts) and m["prompt_tokens_exact"] == all(p[1] for p in prompts)
    assert ("(tokenizer)" in text) == m["prompt_tokens_exact"] != ("(estimate," in text)  # says which it is
    assert m["items"] == n and m["output_bound"] == 40 * n
    assert m["cost_low_usd"] == pytest.approx(m["prompt_tokens"] * 0.15 / 1e6)
    assert m["cost_high_usd"] == pytest.approx((m["prompt_tokens"] * 0.15 + 40 * n * 0.60) / 1e6)
    assert m["price"]["checked"] and m["price"]["source"]


def test_dry_run_after_a_partial_run_counts_only_what_is_left(fake, tmp_path, env, capsys):
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"custom_id": f"q{i}", "prompt": f"p{i}"}) + "\n" for i in range(10)))
    fake.script(MODEL, failures=[500, 500, 500])
    base = ["run", str(inp), "-m", MODEL, "-o", "out.jsonl", "--api-base", fake.openai_base, "--num-retries", "0",
            "--concurrency", "1"]  # fmt: skip
    assert main([*base, "-q"]) == 1  # three failed
    capsys.readouterr()
    sent = len(fake.requests)
    assert main([*base, "--dry-run", "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    assert est["items"] == 3 and est["finished"] == 7 and len(fake.requests) == sent


def test_report_is_written_next_to_the_output_and_named_in_the_summary(fake, tmp_path, env, capsys):
    pytest.importorskip("plotly")
    inp = write_csv(tmp_path / "in.csv", 5)
    code = main(["run", str(inp), "-m", MODEL, "-o", "out.csv", "--prompt", "{question}", "--report",
                 "--api-base", fake.openai_base])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0
    report = tmp_path / "out.csv.report.html"
    assert report.is_file() and "plotly" in report.read_text()[:200000].lower()
    assert "report  out.csv.report.html" in err and "output  out.csv" in err


def test_the_summary_fits_80_columns(fake, tmp_path, env, capsys):
    fake.script(MODEL, failures=[429, 500, None, 503])
    inp = write_csv(tmp_path / "in.csv", 12)
    code = main(["run", str(inp), "-m", MODEL, "-o", "answers.parquet", "--prompt", "{question}",
                 "--api-base", fake.openai_base, "--num-retries", "0", "--budget-usd", "5"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    summary = err[err.index("volley run: 12 items") :]
    assert "output  answers.parquet" in summary and "journal answers.parquet.journal.sqlite" in summary
    assert "to resume, run the same command:" in summary
    long = [line for line in summary.splitlines() if len(line) > 80 and not line.lstrip().startswith("volley run ")]
    assert long == []


def test_the_summary_text_wraps_long_lines_but_keeps_paths_and_commands_whole():
    from volley.jobs.summary import RunSummary

    s = RunSummary("in.csv", "out/" + "x" * 90 + ".parquet", "j.sqlite", items=10, failed=4,
                   errors={f"SomeVeryLongErrorName{i}": i for i in range(6)}, budget_usd=1.0,
                   budget_note="no max_tokens: each openai/gpt-4o-mini request is reserved at the model's ceiling "
                               "of 16,384 output tokens; pass --max-tokens N to reserve less",
                   resume="volley run in.csv -m gpt-4o-mini -o " + "x" * 90)  # fmt: skip
    lines = s.text().splitlines()
    for line in lines:
        if len(line) > 80:
            assert line.lstrip().startswith(("output ", "volley run "))
    assert any("SomeVeryLongErrorName5" in line for line in lines)


def test_the_progress_bar_and_its_count_survive_80_columns(monkeypatch, capsys):
    from volley.engine.progress import Progress

    monkeypatch.setenv("COLUMNS", "80")
    p = Progress(1000, show=True, label="openai/gpt-4o-mini-2024-07-18")
    for i in range(437):
        p.result(i, object())
    p.close()
    last = capsys.readouterr().err.replace("\r", "\n").splitlines()[-1]
    assert "437/1000" in last and "━" in last, last


def test_volley_estimate_takes_what_map_and_batch_completion_take(fake):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"review": ["Great phone", "Broke in a day", None]})
    est = volley.estimate(["gpt-4o-mini", "anthropic/claude-haiku-4-5"], df, "Sentiment of: {review}", max_tokens=5)
    assert est.items == 6 and est.invalid == 0
    gpt, claude = est.models.values()
    assert gpt.items == claude.items == 3 and gpt.output_bound == 15
    assert claude.cost_high == pytest.approx((claude.prompt_tokens * 1.0 + 15 * 5.0) / 1e6)
    lists = volley.estimate("gpt-4o-mini", [[{"role": "user", "content": "hi"}]] * 4)
    assert lists.items == 4 and lists.models["openai/gpt-4o-mini"].output_bound == 4 * 16_384
    assert "openai/gpt-4o-mini: 4 items" in str(lists)
    unpriced = volley.estimate("openai/no-price-for-this-estimate", ["a"])  # a name no other test prices
    assert unpriced.cost_high is None and "no price" in unpriced.text()
    assert fake.requests == []
