"""Jobs: a file of prompts (JSONL request lines, or a table with a template) run to completion exactly once per
item (``volley run``).

- ``options``  :class:`RunOptions`, the settings of one run
- ``source``   the input: JSONL request lines (``io``) or table rows (``volley.tables``) → numbered items
- ``setup``    every check before the first request: paths, input, schema, provider, templates, locks, journal
- ``run``      :class:`Job`: the run itself (results committed a batch at a time, then written), or a dry run
- ``output``   the output file, always made from the journal: Batch lines appended, or a table rebuilt
- ``journal``  the SQLite journal next to the output: each item's state, attempts and result (resume)
- ``io``       request lines → items; results → Batch output lines
- ``summary``  what a run did, as text (80 columns) or JSON

Every file a job writes is created 0600.
"""
