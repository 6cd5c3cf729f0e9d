"""The settings of one ``volley run`` (:class:`RunOptions`), as the command line or a program gives them.

Example::

    opts = RunOptions(input=Path("questions.csv"), output=Path("answers.parquet"), model="gpt-4o-mini",
                      prompt="Answer briefly: {question}", id_column="id")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import journal as journal_mod

#: Output formats: ``batch`` is the OpenAI Batch output format (one line per item, appended as results
#: arrive); the others are tables with every input column and the result columns, rebuilt from the journal.
OUTPUT_FORMATS = ("batch", "jsonl", "csv", "tsv", "parquet", "arrow")


@dataclass
class RunOptions:
    """The settings of one ``volley run``."""

    input: Path
    output: Path
    journal: Path | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # completion parameters; override each line's
    api_key: str | None = None  # for one provider: -m's, or api_provider's
    api_base: str | None = None
    api_provider: str | None = None  # the provider api_key / api_base are for (default: -m's)
    allow_mixed_providers: bool = False  # without -m, lines may route to several providers
    concurrency: int = 100
    rpm: float | None = None
    tpm: float | None = None
    num_retries: int | None = None
    timeout: float | None = None
    budget_usd: float | None = None
    cache: bool = False
    cache_path: str | None = None
    cache_scope: str = "shared"  # "key": answers kept apart per API key
    limits_url: str | None = None  # a Redis shared by every process on the same lanes (else $VOLLEY_REDIS_URL)
    cache_url: str | None = None  # a response cache in Redis, shared by every process using it
    retry_failed: bool = True
    strict: bool = False
    overwrite: bool = False
    progress: bool = False
    quiet: bool = False  # no notes on stderr (errors are still reported)
    batch_api: bool = False  # send through the provider's batch API (OpenAI, Anthropic, Azure OpenAI)
    poll_interval: float = 30.0
    batch_fallback: bool = False  # items the batch could not answer go through online mode
    # tables: what to send for each row, and what to write
    prompt: str | None = None  # a template over the row's columns: "Summarize: {text}"
    system: str | None = None  # a system prompt (a template too)
    id_column: str | None = None
    messages_column: str | None = None
    schema: str | None = None  # "pkg.mod:Model" or a JSON Schema file: structured output, one column per field
    input_format: str | None = None  # jsonl csv tsv parquet arrow hf (default: from the input's name)
    output_format: str | None = None  # one of OUTPUT_FORMATS (default: from the output's extension)
    prefix: str = ""  # put before every result column's name
    report: bool = False  # write OUTPUT.report.html after the run

    @property
    def journal_path(self) -> Path:
        return self.journal or journal_mod.default_path(self.output)

    @property
    def templated(self) -> bool:
        """True when the command line says what to send for each row (then JSONL lines are table rows)."""
        return any(v is not None for v in (self.prompt, self.system, self.id_column, self.messages_column))

    def settings(self) -> dict[str, Any]:
        """What shapes the answers (kept in the journal to refuse a resume with other settings). No key."""
        out: dict[str, Any] = {"model": self.model, "params": self.params, "api_base": self.api_base}
        if self.api_provider:
            out["api_provider"] = self.api_provider
        for name in ("prompt", "system", "id_column", "messages_column", "schema"):  # only when given: older
            value = getattr(self, name)  # journals, which have none of them, still resume
            if value is not None:
                out[name] = value
        return out

    def control(self) -> dict[str, Any]:
        """Control parameters of every line (the key and base are added per provider, see ``JobSetup``)."""
        out: dict[str, Any] = {"max_workers": self.concurrency}
        for name in ("rpm", "tpm", "num_retries", "timeout", "cache_path", "limits_url", "cache_url"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.cache or self.cache_url:
            out["cache"] = True
            out["cache_scope"] = self.cache_scope
        return out

    def overrides(self) -> dict[str, Any]:
        """``api_key`` / ``api_base`` given for the job's own provider."""
        return {k: v for k, v in (("api_key", self.api_key), ("api_base", self.api_base)) if v}
