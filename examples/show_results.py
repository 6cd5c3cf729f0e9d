"""Print each question of a `volley run` input next to its answer in the output (the demo's last step)."""

from __future__ import annotations

import json
import sys
import textwrap


def main(input_path: str, output_path: str) -> int:
    questions = {}
    with open(input_path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                questions[row["custom_id"]] = row["messages"][-1]["content"]
    with open(output_path, encoding="utf-8") as f:
        results = {r["custom_id"]: r for r in map(json.loads, f)}
    for cid, question in questions.items():
        r = results.get(cid)
        if r is None:
            answer = "(missing)"
        elif r["error"]:
            answer = f"ERROR {r['error']['code']}: {r['error']['message']}"
        else:
            answer = " ".join((r["response"]["body"]["choices"][0]["message"]["content"] or "").split())
        print(f"{cid:>4}  {question}")
        print(textwrap.fill(answer, 100, initial_indent="      -> ", subsequent_indent="         "))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
