"""Make docs/report.png, the README's picture of ``volley report``: a demo job against the fake server, its
report, and a screenshot of it in headless Chromium (the distribution's, see volley.testing.browser).

    python scripts/report_screenshot.py [docs/report.png]

No key and no network: 400 questions to two models on the local fake server, a few of them failing.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from volley.cli import main as volley
from volley.testing import FakeServer
from volley.testing.browser import open_page


def demo_job(workdir: Path, fake: FakeServer) -> Path:
    fake.script("gpt-4o-mini", latency=(0.02, 0.35), seed=11, failures=[None] * 40 + [429, 500] + [None] * 90 + [503])
    fake.script("gpt-4o", latency=(0.1, 0.9), seed=12, failures=[None] * 30 + [500])
    lines = [
        {"custom_id": f"q{i:03d}", "model": "gpt-4o" if i % 3 == 0 else "gpt-4o-mini",
         "prompt": "Explain briefly " + "why " * (i % 30) + f"fact number {i}."}
        for i in range(400)
    ]  # fmt: skip
    lines.insert(123, {"custom_id": "q-bad", "messages": "not a list"})
    os.chdir(workdir)  # relative paths: the page names answers.jsonl, not a temporary directory
    Path("questions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    os.environ["OPENAI_API_KEY"] = "sk-demo-not-a-real-key"
    os.environ["VOLLEY_CACHE_DIR"] = str(workdir / "cache")
    volley(["run", "questions.jsonl", "-o", "answers.jsonl", "--api-provider", "openai", "--api-base", fake.openai_base,
            "--num-retries", "0", "--concurrency", "16", "-q"])  # fmt: skip
    return workdir / "answers.jsonl"


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "docs/report.png").resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="volley-report-demo-") as tmp, FakeServer() as fake:
        out = demo_job(Path(tmp), fake)
        report = Path(tmp) / "report.html"
        if volley(["report", out.name, "-o", str(report)]) != 0:
            return 1
        with open_page(report, width=1280, height=900) as (page, log):
            page.wait_for_selector("#chart-cost .main-svg")
            page.wait_for_timeout(300)
            if log.errors:
                print("console errors:", log.errors, file=sys.stderr)
                return 1
            page.screenshot(path=str(target), full_page=True)
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
