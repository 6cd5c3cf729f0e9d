"""Jobs: a JSONL file of prompts run to completion exactly once per line (``volley run``).

- ``io``       input lines (OpenAI Batch format or simple lines) → items; results → Batch output lines
- ``journal``  the SQLite journal next to the output: each item's state, attempts and result (resume)
- ``cache``    the response cache behind ``cache=True`` / ``--cache`` (dedupes identical requests)
- ``runner``   setup checks, then the run itself: journal first, output line after, summary at the end
- ``summary``  what a run did, as text or JSON
- ``files``    every file a job writes is created 0600
"""
