"""``volley report`` and the compare page: built from a real run against the fake server, checked in headless Chromium.

The browser is the distribution's Chromium (``/usr/bin/chromium``, or ``$VOLLEY_CHROMIUM``), driven by
playwright. Without it the browser tests are skipped, except under CI (``CI`` set), where they fail.
"""

import html
import json
import os
import re
import shutil
import sqlite3
import stat

import pytest

import volley
from _job_env import isolate_job
from volley.cli import main
from volley.commands.compare import row as compare_row
from volley.jobs.summary import percentile
from volley.report import load_run, write_compare_report
from volley.report.page import money
from volley.testing.browser import chromium_path, image_stats, open_page

KEY = "sk-test-report-SECRET-0123456789"
HOSTILE = '<img src=x onerror="alert(1)"></script><b>id'
CHARTS = ("chart-progress", "chart-latency", "chart-errors", "chart-tokens", "chart-cost")


def _browser_ready() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return shutil.which(chromium_path()) is not None or os.path.exists(chromium_path())


browser = pytest.mark.skipif(
    not _browser_ready() and not os.environ.get("CI"),
    reason="needs Chromium (apt-get install chromium) and playwright (in the dev extra)",
)


@pytest.fixture
def env(monkeypatch, tmp_path):
    isolate_job(monkeypatch, tmp_path, KEY)


def make_run(fake, tmp_path, n=80, *more):
    """A real ``volley run``: two models, latencies, a few failures and one malformed line with a hostile id."""
    fake.script("gpt-4o-mini", latency=(0.0, 0.02), seed=5, failures=[None] * 6 + [500, None, 429, None, 503])
    fake.script("gpt-4o", latency=(0.01, 0.05), seed=6)
    lines = [{"custom_id": f"q{i}", "model": "gpt-4o" if i % 4 == 0 else "gpt-4o-mini",
              "prompt": "word " * (i % 25) + f"question {i}"} for i in range(n)]  # fmt: skip
    lines.insert(10, {"custom_id": HOSTILE, "messages": "not a list"})
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    argv = ["run", "in.jsonl", "-o", "out.jsonl", "--api-provider", "openai", "--api-base", fake.openai_base,
            "--num-retries", "0", "--concurrency", "1", "-q", *more]  # fmt: skip
    return main(argv)


def test_volley_report_writes_one_self_contained_private_file(fake, tmp_path, env, capsys):
    assert make_run(fake, tmp_path) == 1  # some failed
    capsys.readouterr()
    assert main(["report", "out.jsonl"]) == 0
    path = tmp_path / "out.jsonl.report.html"
    assert capsys.readouterr().out.strip() == "out.jsonl.report.html"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.count("plotly.js v") >= 1 and len(re.findall(r"<script[^>]*\bsrc=", text)) == 0
    markup = re.sub(r"<script\b.*?</script>", "", text, flags=re.S)  # the page outside its scripts
    assert re.findall(r"<[a-z][^>]*\s(?:src|href)\s*=", markup, re.I) == []
    assert "<link" not in markup and "@import" not in markup
    assert HOSTILE not in text and html.escape(HOSTILE) in text  # ids are text, never markup
    assert KEY not in text
    for chart in CHARTS:
        assert f'id="{chart}"' in text


def test_the_numbers_are_the_journals(fake, tmp_path, env):
    make_run(fake, tmp_path)
    run = load_run("out.jsonl")
    db = sqlite3.connect("out.jsonl.journal.sqlite")
    states = dict(db.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall())
    assert dict(run.counts) == states and states["failed"] == 3 and states["invalid"] == 1
    latencies = [r[0] for r in db.execute("SELECT latency_s FROM items WHERE latency_s IS NOT NULL")]
    assert run.latency_percentiles() == {f"p{q}": percentile(latencies, q / 100) for q in (50, 95, 99)}
    total = db.execute("SELECT SUM(cost_usd) FROM items").fetchone()[0]
    assert run.total_cost == pytest.approx(total) and total > 0
    models = run.by_model()
    assert set(models) == {"gpt-4o", "gpt-4o-mini"}
    assert models["gpt-4o"]["items"] == 20 and models["gpt-4o"]["cost"] > models["gpt-4o-mini"]["cost"] / 60
    tokens = db.execute("SELECT SUM(prompt_tokens), SUM(completion_tokens) FROM items").fetchone()
    assert sum(m["prompt"] for m in models.values()) == tokens[0]
    assert sum(m["completion"] for m in models.values()) == tokens[1]
    errors = run.errors()
    assert {k: len(v) for k, v in errors.items()} == {"InternalServerError": 1, "InvalidRequestError": 1,
                                                     "RateLimitError": 1, "ServiceUnavailableError": 1}  # fmt: skip
    assert errors["InvalidRequestError"][0].custom_id == HOSTILE


def test_report_errors_are_clear(fake, tmp_path, env, capsys):
    assert main(["report", "nothing.jsonl"]) == 2
    assert "no journal at nothing.jsonl.journal.sqlite" in capsys.readouterr().err
    make_run(fake, tmp_path, 4)
    assert main(["report", "out.jsonl", "-o", "out.jsonl"]) == 2
    assert "must not overwrite the output" in capsys.readouterr().err
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 5  # untouched


@browser
def test_the_report_renders_in_chromium(fake, tmp_path, env):
    make_run(fake, tmp_path)
    assert main(["report", "out.jsonl", "-o", "report.html"]) == 0
    run = load_run("out.jsonl")
    with open_page(tmp_path / "report.html") as (page, log):
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.wait_for_selector("#chart-cost .main-svg")
        page.wait_for_timeout(200)
        assert log.errors == [] and log.remote_requests == [] and dialogs == []
        for chart in CHARTS:
            box = page.locator(f"#{chart} .main-svg").first.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 150, chart
        progress = page.locator("#chart-progress .scatterlayer path.js-line")
        assert progress.count() >= 1 and len(progress.first.get_attribute("d") or "") > 20
        assert page.locator("#chart-progress .barlayer .point path").count() >= 1  # throughput bars
        assert page.locator("#chart-latency .barlayer .point path").count() >= 5  # the histogram
        assert page.locator("#chart-latency .shapelayer path").count() == 3  # p50, p95, p99
        assert page.locator("#chart-errors .barlayer .point path").count() == 4  # one bar per error type
        assert page.locator("#chart-tokens .barlayer .point path").count() >= 4  # 2 models x (prompt, completion)
        assert page.locator("#chart-cost .barlayer .point path").count() == 2
        cards = page.locator("#summary .card").all_inner_texts()
        assert f"{money(run.total_cost)}\ncost" in cards and "1\ninvalid" in cards and "3\nfailed" in cards
        errors_table = page.locator("#errors tbody tr")
        assert errors_table.count() == 4
        assert HOSTILE in page.locator("#errors").inner_text()  # shown as text
        assert page.locator("img").count() == 0 and page.locator("main b").count() == len(cards)
        assert page.locator("#slowest tbody tr").count() == 10 and page.locator("#expensive tbody tr").count() == 10
        png = page.screenshot(full_page=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        stats = image_stats(page, png)
        assert stats["width"] == 1400 and stats["height"] > 1500
        assert stats["colors"] > 30 and stats["ink"] > 0.05  # a drawn page, not a blank one
        chart_png = page.locator("#chart-latency").screenshot()
        assert image_stats(page, chart_png)["ink"] > 0.02


@browser
def test_a_run_not_finished_yet_and_one_with_nothing_done(fake, tmp_path, env):
    # a budget below one request's worst case: nothing is sent, everything stays pending
    assert make_run(fake, tmp_path, 6, "--budget-usd", "0.0000001") == 1
    assert main(["report", "out.jsonl", "-o", "empty.html"]) == 0
    with open_page(tmp_path / "empty.html") as (page, log):
        assert log.errors == [] and log.remote_requests == []
        assert "6\nnot finished" in page.locator("#summary .card").all_inner_texts()
        assert "no latencies" in page.locator("#chart-latency").inner_text()
        assert page.locator("#chart-progress .main-svg").first.bounding_box()["width"] > 300


@browser
def test_the_compare_page_renders_in_chromium(fake, tmp_path):
    fake.script("broken", fail=500)
    models = ["openai/gpt-4o-mini", "openai/gpt-4o", "openai/broken"]
    prompt = "Name a colour <b>bold</b>"
    results = volley.batch_completion_models_all_responses(
        models, [{"role": "user", "content": prompt}], return_exceptions=True, api_base=fake.openai_base,
        api_key=KEY, num_retries=0,
    )  # fmt: skip
    rows = [compare_row(m, r) for m, r in zip(models, results)]
    path = write_compare_report(rows, tmp_path / "compare.html", prompt=prompt)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with open_page(path) as (page, log):
        page.wait_for_selector("#chart-cost .main-svg")
        assert log.errors == [] and log.remote_requests == []
        for chart in ("chart-latency", "chart-cost", "chart-tokens"):
            assert page.locator(f"#{chart} .barlayer .point path").count() == 2, chart  # the two that answered
        sides = page.locator("section.side").all_inner_texts()
        assert len(sides) == 3 and f"echo: {prompt}" in sides[0] and "failed: " in sides[2]
        assert page.locator("main b").count() == len(page.locator("#summary .card").all())  # the prompt is text
        stats = image_stats(page, page.screenshot(full_page=True))
        assert stats["colors"] > 20 and stats["ink"] > 0.05


@browser
def test_volley_compare_writes_the_side_by_side_page(fake, tmp_path, env, capsys):
    fake.script("broken", fail=500)
    base = ["compare", "-m", "gpt-4o-mini", "-m", "gpt-4o", "-m", "openai/broken", "--api-base", fake.openai_base,
            "--num-retries", "0", "Name a colour"]  # fmt: skip
    assert main([*base, "--report", "nowhere/cmp.html"]) == 2  # checked before anything is sent
    assert "nowhere" in capsys.readouterr().err and fake.requests == []
    assert main([*base, "--report", "cmp.html"]) == 0
    assert "wrote cmp.html" in capsys.readouterr().err
    path = tmp_path / "cmp.html"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and KEY not in path.read_text()
    with open_page(path) as (page, log):
        page.wait_for_selector("#chart-cost .main-svg")
        assert log.errors == [] and log.remote_requests == []
        sides = page.locator("section.side").all_inner_texts()
        assert len(sides) == 3 and "echo: Name a colour" in sides[0] and "failed: " in sides[2]
