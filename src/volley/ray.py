"""Distributed jobs on Ray Data: ``ds.map_batches(volley.ray.Completions, ...)``, limits global across actors.

Each batch's rows go through volley's engine (one call per row, ``max_workers`` at a time per
actor) with ``limits_url=`` set, so every attempt first takes a turn in the lane's *shared* limits:
rpm/tpm, concurrency, a 429's pause and the limits learned from headers hold for all actors and
nodes together — through Redis when ``limits_url`` (or ``$VOLLEY_REDIS_URL``) is given, else through
one named Ray actor (:func:`limits_actor`, ``limits_url="ray-actor://volley/volley-limits"``) that
keeps the same state. Retries follow volley's policy and honour
Retry-After. A row that fails is a row with ``error`` set, never an exception that fails the job.

Output columns, added to the input's: ``answer``, ``finish_reason``, ``response_model``,
``input_tokens``, ``output_tokens``, ``total_tokens``, ``cost`` (USD), ``latency_s``, ``attempts``,
``error`` (``"RateLimitError: ..."``), ``error_type``; with ``include_response=True`` also ``response``,
the whole ``chat.completion`` as JSON (what ``volley run`` writes).

Resume: :func:`run` writes Parquet files into an output directory (Ray appends new files, it never
rewrites old ones) and, when the directory already holds results, first drops the input rows whose
id is there without an error (:func:`finished_ids`), so a killed job re-sends nothing that finished;
rows that ended in an error are sent again. :func:`read_results` reads the directory back, one row per
id (an answer over an earlier error), sorted by id. The API key should come from the environment of
the workers (e.g. ``runtime_env={"env_vars": {...}}``) rather than ``fn_constructor_kwargs``.

Example::

    import ray, volley.ray
    ds = ray.data.from_items([{"id": i, "prompt": p} for i, p in enumerate(prompts)])
    out = ds.map_batches(volley.ray.Completions, fn_constructor_kwargs={"model": "gpt-4o-mini", "rpm": 500},
                         concurrency=4, batch_size=64, batch_format="pandas")
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

from .shared.store import RAY_ACTOR, LaneConfig, LaneState, Reply, StoreUnavailable, clamp_pause, lane_id

log = logging.getLogger("volley.ray")

DEFAULT_ACTOR = "volley-limits"
NAMESPACE = "volley"
OUTPUT_COLUMNS = ("answer", "finish_reason", "response_model", "input_tokens", "output_tokens", "total_tokens",
                  "cost", "latency_s", "attempts", "error", "error_type", "response")  # fmt: skip


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("volley.ray needs Ray Data: pip install 'volley-llm[ray]'") from exc
    return ray


# ---------------------------------------------------------------------------- the limits actor


class LimitsState:
    """What the named limits actor keeps: one :class:`~volley.shared.store.LaneState` per lane, on its clock."""

    def __init__(self) -> None:
        self.lanes: dict[str, LaneState] = {}

    def _lane(self, lane: str) -> LaneState:
        state = self.lanes.get(lane)
        if state is None:
            state = self.lanes[lane] = LaneState()
        return state

    def reserve(
        self, lane: str, lease: str, member: str, tokens: float, cfg: _Cfg, ttl: float
    ) -> tuple[str, float, int]:
        r = self._lane(lane).reserve(time.monotonic(), lease, member, tokens, LaneConfig(*cfg), ttl)
        return (r.status, r.wait, r.members)

    def release(self, lane: str, lease: str, cfg: _Cfg, kw: dict[str, Any]) -> float:
        return self._lane(lane).release(time.monotonic(), lease, LaneConfig(*cfg), **kw)[1]

    def renew(self, lane: str, leases: list[str], member: str, ttl: float) -> int:
        return self._lane(lane).renew(time.monotonic(), leases, member, ttl)

    def pause(self, lane: str, seconds: float) -> float:
        return self._lane(lane).pause(time.monotonic(), seconds)

    def paused(self, lane: str) -> float:
        return self._lane(lane).paused(time.monotonic())

    def learn(self, lane: str, rpm: float | None, tpm: float | None) -> None:
        self._lane(lane).learn(rpm, tpm)

    def learned(self, lane: str) -> tuple[float | None, float | None]:
        return self._lane(lane).learned()

    def ping(self) -> bool:
        return True

    def snapshot(self, key: Hashable) -> dict[str, float]:
        """The state of lane ``key`` (tests, monitoring): leases held, members seen, turns given, pause left."""
        return self._lane(lane_id(key)).snapshot(time.monotonic())


def limits_actor(name: str = DEFAULT_ACTOR, *, namespace: str = NAMESPACE) -> Any:
    """The named actor holding the shared limits (created on first use; 0 CPUs, so it takes no worker's place).

    Create it in the driver (:func:`run` does) so it lives as long as the job; actors that find it use it.
    """
    ray = _ray()
    cls = ray.remote(num_cpus=0, max_restarts=-1)(LimitsState)
    return cls.options(name=name, namespace=namespace, get_if_exists=True).remote()


class RayActorStore:
    """A :class:`~volley.shared.store.LimitStore` for one lane, kept by the named limits actor."""

    def __init__(self, key: Hashable, *, name: str = DEFAULT_ACTOR, namespace: str = NAMESPACE) -> None:
        self.lane = lane_id(key)
        self.name = f"ray actor {namespace}/{name}"
        self._actor_name, self._namespace = name, namespace
        self._actor: Any = None

    async def _call(self, method: str, *args: Any) -> Any:
        ray = _ray()
        for again in (True, False):
            try:
                if self._actor is None:
                    self._actor = limits_actor(self._actor_name, namespace=self._namespace)
                return await getattr(self._actor, method).remote(*args)
            except (ray.exceptions.RayError, OSError) as exc:
                # Two actors creating it at once: one handle names the loser; the name finds the winner.
                self._actor = None
                if not again:
                    raise StoreUnavailable(
                        f"the shared limit store {self.name} is unreachable: {type(exc).__name__}"
                    ) from exc
        raise AssertionError("unreachable")

    async def reserve(self, lease: str, member: str, tokens: float, cfg: LaneConfig, ttl: float) -> Reply:
        status, wait, members = await self._call("reserve", self.lane, lease, member, tokens, _cfg(cfg), ttl)
        return Reply(status, wait, members)

    async def release(self, lease: str, cfg: LaneConfig, **kw: Any) -> float:
        return float(await self._call("release", self.lane, lease, _cfg(cfg), kw))

    async def renew(self, leases: list[str], member: str, ttl: float) -> int:
        return int(await self._call("renew", self.lane, leases, member, ttl))

    async def pause(self, seconds: float) -> float:
        return float(await self._call("pause", self.lane, clamp_pause(seconds)))

    async def paused(self) -> float:
        return float(await self._call("paused", self.lane))

    async def learn(self, rpm: float | None, tpm: float | None) -> None:
        await self._call("learn", self.lane, rpm, tpm)

    async def learned(self) -> tuple[float | None, float | None]:
        rpm, tpm = await self._call("learned", self.lane)
        return rpm, tpm

    async def ping(self) -> None:
        await self._call("ping")

    def events(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


_Cfg = tuple[int, float | None, float | None]


def _cfg(cfg: LaneConfig) -> _Cfg:
    return (cfg.max_workers, cfg.rpm, cfg.tpm)


# ---------------------------------------------------------------------------- the map_batches class


class Completions:
    """A callable class for ``ds.map_batches``: each row's prompt to ``model``, answer columns back.

    Rows carry ``messages`` (a list of ``{"role", "content"}`` or its JSON) or ``prompt`` (a string,
    with ``system`` as the system message), and may carry ``params`` (JSON object of per-row
    parameters). Each row is one call through volley's engine (its lanes, retries and hooks, as
    ``volley.batch_completion``'s items). ``limits_url``: a ``redis://`` URL for the shared limits
    (default ``$VOLLEY_REDIS_URL``), else the named actor ``limits_actor``; ``limits="local"`` keeps
    each actor's limits to itself. ``rpm``/``tpm``/``max_workers`` are the lane's limits, shared by
    all actors; ``max_workers`` also bounds each actor's requests in flight. Other keyword arguments
    are volley completion parameters (``api_base``, ``temperature``, ``max_tokens``, ``cache_url``...).

    Example::

        ds.map_batches(volley.ray.Completions, concurrency=4, batch_format="pyarrow",
                       fn_constructor_kwargs={"model": "gpt-4o-mini", "rpm": 500, "max_tokens": 64})
    """

    def __init__(
        self,
        model: str,
        *,
        id_column: str = "id",
        system: str | None = None,
        limits: str = "shared",
        limits_url: str | None = None,
        limits_actor: str = DEFAULT_ACTOR,
        max_workers: int = 32,
        rpm: float | None = None,
        tpm: float | None = None,
        num_retries: int = 3,
        include_response: bool = False,
        **params: Any,
    ) -> None:
        from .prepare import LIMITS_URL_ENV, Template

        if limits not in ("shared", "local"):
            raise ValueError(f"limits must be 'shared' or 'local'; got {limits!r}")
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"max_workers must be a positive integer; got {max_workers!r}")
        self.model, self.id_column, self.system = model, id_column, system
        self.max_workers, self.include_response = max_workers, include_response
        self.limits = limits
        if limits == "local":
            url: str | bool = False  # this actor's own lanes, whatever $VOLLEY_REDIS_URL says
        else:
            url = limits_url or os.environ.get(LIMITS_URL_ENV) or f"{RAY_ACTOR}://{NAMESPACE}/{limits_actor}"
        self.limits_url = url
        given = {"rpm": rpm, "tpm": tpm, "num_retries": num_retries, "max_workers": max_workers, "limits_url": url}
        self.params: dict[str, Any] = {**params, **{k: v for k, v in given.items() if v is not None}}
        template = Template(model, self.params)  # bad model, key, parameters or limits_url fail here
        self.lane_key = template.route.lane  # per account (a hash of the key, never the key)
        self._templates: dict[str, Template] = {"": template}

    # ------------------------------------------------------------------ Ray calls this

    def __call__(self, batch: Any) -> Any:
        from ._sync import run_sync

        rows, fmt = _rows(batch)
        results = run_sync(self._send_all(rows))
        return _out(batch, fmt, results, self.include_response)

    # ------------------------------------------------------------------ sending

    async def _send_all(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        gate = asyncio.Semaphore(self.max_workers)

        async def one(row: dict[str, Any]) -> dict[str, Any]:
            async with gate:
                return await self._one(row)

        return list(await asyncio.gather(*(one(r) for r in rows)))

    async def _one(self, row: dict[str, Any]) -> dict[str, Any]:
        from .send import execute

        started = time.perf_counter()
        attempts = 0

        def retried(exc: BaseException, attempt: int, wait: float) -> None:
            nonlocal attempts
            attempts += 1

        try:
            messages, key, params = self._request(row)
            call = self._template(key, params).call(messages, validated=True)
            attempts = 1
            resp = await execute(call, on_retry=retried)
        except Exception as exc:
            return _failed(exc, time.perf_counter() - started, attempts)
        out = _answered(resp, time.perf_counter() - started, attempts)
        if self.include_response:
            out["response"] = resp.model_dump_json()
        return out

    def _template(self, key: str, params: dict[str, Any]) -> Any:
        """The template for rows with these ``params`` (checked once per distinct set, like a batch's)."""
        template = self._templates.get(key)
        if template is None:
            from .prepare import Template

            template = Template(self.model, {**self.params, **params})
            if len(self._templates) < 1024:  # rows with all-different params: do not keep them all
                self._templates[key] = template
        return template

    def _request(self, row: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str, dict[str, Any]]:
        """A row's (validated messages, its params' key, its params); bad rows raise ``InvalidRequestError``."""
        from .validate import InvalidRequestError, validate_messages

        if row.get("invalid"):
            raise InvalidRequestError(str(row["invalid"]), status_code=400)
        model = row.get("model")
        if isinstance(model, str) and model and model != self.model:
            raise InvalidRequestError(f"this row names model {model!r}; a Ray job sends every row to {self.model!r}",
                                      status_code=400)  # fmt: skip
        raw = row.get("messages")
        if raw is not None and not (isinstance(raw, float) and raw != raw):
            messages = json.loads(raw) if isinstance(raw, str) else _plain(raw)
        elif isinstance(row.get("prompt"), str):
            messages = [{"role": "user", "content": row["prompt"]}]
            if self.system:
                messages.insert(0, {"role": "system", "content": self.system})
        else:
            raise InvalidRequestError("a row needs 'messages' or a 'prompt' string", status_code=400)
        raw_params = row.get("params")
        if isinstance(raw_params, str) and raw_params:
            key, params = raw_params, json.loads(raw_params)
        else:
            params = _plain(raw_params) or {}
            key = json.dumps(params, sort_keys=True, default=str) if params else ""
        if not isinstance(params, dict):
            raise InvalidRequestError("a row's 'params' must be a JSON object", status_code=400)
        return validate_messages(messages), key, params


def _answered(resp: Any, latency: float, attempts: int) -> dict[str, Any]:
    choice = resp.choices[0] if resp.choices else None
    usage = resp.usage
    return {
        "answer": choice.message.content if choice else None,
        "finish_reason": str(choice.finish_reason) if choice and choice.finish_reason else None,
        "response_model": resp.model or None,
        "input_tokens": usage.prompt_tokens if usage else None,
        "output_tokens": usage.completion_tokens if usage else None,
        "total_tokens": usage.total_tokens if usage else None,
        "cost": resp.cost,
        "latency_s": latency,
        "attempts": attempts,
        "error": None,
        "error_type": None,
        "response": None,
    }


def _failed(exc: BaseException, latency: float, attempts: int) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(OUTPUT_COLUMNS)
    out.update(latency_s=latency, attempts=attempts, error=f"{type(exc).__name__}: {exc}",
               error_type=type(exc).__name__)  # fmt: skip
    return out


def _plain(value: Any) -> Any:
    """numpy arrays and scalars (what Ray's numpy/pandas batches hold) as plain lists, dicts and numbers."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _rows(batch: Any) -> tuple[list[dict[str, Any]], str]:
    if isinstance(batch, Mapping):  # numpy: column name -> array
        cols = list(batch)
        n = len(batch[cols[0]]) if cols else 0
        return [{c: batch[c][i] for c in cols} for i in range(n)], "numpy"
    if hasattr(batch, "to_pylist"):  # pyarrow.Table
        return batch.to_pylist(), "pyarrow"
    if hasattr(batch, "to_dict"):  # pandas.DataFrame
        return batch.to_dict("records"), "pandas"
    raise TypeError(f"Completions takes a pandas, pyarrow or numpy batch; got {type(batch).__name__}")


def _columns(results: list[dict[str, Any]]) -> dict[str, Any]:
    import pyarrow as pa

    types = {"input_tokens": pa.int64(), "output_tokens": pa.int64(), "total_tokens": pa.int64(),
             "attempts": pa.int64(), "cost": pa.float64(), "latency_s": pa.float64()}  # fmt: skip
    return {c: pa.array([r[c] for r in results], type=types.get(c, pa.string())) for c in OUTPUT_COLUMNS}


def _out(batch: Any, fmt: str, results: list[dict[str, Any]], include_response: bool = False) -> Any:
    new = _columns(results)
    if not include_response:
        del new["response"]
    if fmt == "pyarrow":
        table = batch
        for c, arr in new.items():
            table = table.set_column(table.schema.get_field_index(c), c, arr) if c in table.column_names \
                else table.append_column(c, arr)  # fmt: skip
        return table
    if fmt == "pandas":
        df = batch.copy()
        for c, arr in new.items():
            df[c] = arr.to_pandas().values
        return df
    out = dict(batch)
    for c, arr in new.items():
        out[c] = arr.to_numpy(zero_copy_only=False)
    return out


# ---------------------------------------------------------------------------- file jobs and resume


def finished_ids(output: str | os.PathLike[str], id_column: str = "id") -> set[Any]:
    """Ids answered without an error in the Parquet files under ``output`` (none if it does not exist).

    A file that cannot be read (cut off by a kill while being written) is skipped with a warning, so its
    rows count as not finished and are sent again.
    """
    import pyarrow.parquet as pq

    done: set[Any] = set()
    root = Path(output)
    if not root.exists():
        return done
    for path in sorted(root.rglob("*.parquet")):
        try:
            table = pq.read_table(path, columns=[id_column, "error"])
        except Exception as exc:
            log.warning("volley.ray: skipping %s, which cannot be read (%s); its rows will be sent again", path, exc)
            continue
        for rid, err in zip(table.column(id_column).to_pylist(), table.column("error").to_pylist()):
            if err is None:
                done.add(rid)
    return done


def read_results(output: str | os.PathLike[str], id_column: str = "id") -> list[dict[str, Any]]:
    """Every row under ``output``, one per id (an answer wins over an earlier error), sorted by id."""
    import pyarrow.parquet as pq

    best: dict[Any, dict[str, Any]] = {}
    for path in sorted(Path(output).rglob("*.parquet")):
        try:
            rows = pq.read_table(path).to_pylist()
        except Exception:
            continue
        for row in rows:
            rid = row[id_column]
            if rid not in best or (best[rid]["error"] is not None and row["error"] is None):
                best[rid] = row
    return [best[k] for k in sorted(best, key=lambda v: (str(type(v)), v))]


def _drop_done(batch: Any, done: Any, id_column: str) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not done:
        return batch
    keep = pc.invert(pc.is_in(batch.column(id_column), value_set=pa.array(sorted(done, key=str))))
    return batch.filter(keep)


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """A ``volley run`` input file as rows: ``id`` (its custom_id), ``messages`` and ``params`` as JSON,
    and ``invalid`` (why a line cannot be sent, answered as an error row) — the same parsing as ``volley run``."""
    from .jobs.io import parse_line, read_lines

    rows = []
    for n, raw in read_lines(path):
        item = parse_line(raw, n)
        rows.append({
            "id": item.custom_id,
            "messages": json.dumps(item.messages) if item.messages is not None else None,
            "model": item.model,
            "params": json.dumps(item.params) if item.params else None,
            "invalid": item.error,
        })  # fmt: skip
    return rows


def run(
    source: Any,
    output: str | os.PathLike[str],
    model: str,
    *,
    address: str | None = None,
    concurrency: int = 2,
    num_cpus: float = 0.5,
    batch_size: int = 32,
    id_column: str = "id",
    limits_url: str | None = None,
    rows_per_file: int | None = None,
    **kwargs: Any,
) -> dict[str, int]:
    """Run a job on Ray: ``source`` (a JSONL file in ``volley run``'s format, or a Ray Dataset) through
    :class:`Completions` on ``concurrency`` actors (``num_cpus`` each: they mostly wait on the network),
    appending Parquet files to ``output``; on a rerun the rows already answered there are skipped.
    What ``volley run --ray ADDRESS`` calls (``address``: as ``ray.init`` takes it; None starts a local Ray).

    A JSONL file is cut into blocks of ``rows_per_file`` rows (default ``4 * batch_size``): each block is
    one output file, written as soon as its rows are answered, so a kill loses at most the blocks in flight.
    Returns ``{"skipped": rows already done, "sent": rows processed now, "errors": of those, failed}``.

    Example::

        volley.ray.run("prompts.jsonl", "out/", "gpt-4o-mini", address="ray://head:10001", concurrency=8, rpm=500)
    """
    Completions(model, id_column=id_column, limits_url=limits_url, **kwargs)  # bad model, key, params: raise now
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address)
    ds = source
    import ray.data

    if isinstance(source, (str, os.PathLike)):
        rows = read_jsonl(source)
        per_file = rows_per_file or 4 * batch_size
        ds = ray.data.from_items(rows, override_num_blocks=max(1, min(10_000, -(-len(rows) // per_file))))
    done = finished_ids(output, id_column)
    if done:
        ds = ds.map_batches(_drop_done, fn_kwargs={"done": done, "id_column": id_column}, batch_format="pyarrow")
    actor = None
    if not (limits_url or os.environ.get("VOLLEY_REDIS_URL")) and kwargs.get("limits", "shared") == "shared":
        actor = limits_actor(kwargs.get("limits_actor", DEFAULT_ACTOR))  # held by the driver for the job
    before = _count(output, id_column)
    ds.map_batches(
        Completions,
        fn_constructor_kwargs={"model": model, "id_column": id_column, "limits_url": limits_url, **kwargs},
        # one batch at a time per actor: Ray would otherwise queue several on the first actor ready
        compute=ray.data.ActorPoolStrategy(size=concurrency, max_tasks_in_flight_per_actor=1),
        num_cpus=num_cpus,
        batch_size=batch_size,
        batch_format="pyarrow",
    ).write_parquet(str(output))
    del actor
    after = _count(output, id_column)
    return {"skipped": len(done), "sent": after[0] - before[0], "errors": after[1] - before[1]}


def _count(output: str | os.PathLike[str], id_column: str) -> tuple[int, int]:
    """(rows, error rows) in the readable files under ``output``."""
    import pyarrow.parquet as pq

    rows = errors = 0
    root = Path(output)
    if not root.exists():
        return 0, 0
    for path in root.rglob("*.parquet"):
        try:
            err = pq.read_table(path, columns=["error"]).column("error")
        except Exception:
            continue
        rows += len(err)
        errors += len(err) - err.null_count
    return rows, errors
