"""OpenTelemetry: spans per request and per batch (GenAI conventions), metrics, no cost without it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from volley import otel
from volley.errors import RateLimitError
from volley.prepare import prepare
from volley.send import execute

KEY = "sk-otel-SECRET-key-0123456789"
PROMPT = "a private prompt 7f3a"


@pytest.fixture
def recorded():
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = sdk_trace.TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.configure(tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[reader]))
    yield exporter, reader
    otel.configure()


def _metrics(reader) -> dict[str, list]:
    out: dict[str, list] = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out[m.name] = list(m.data.data_points)
    return out


def _call(fake, text, **params):
    return prepare("gpt-4o-mini", [{"role": "user", "content": text}],
                   {"api_base": fake.openai_base, "api_key": KEY, "num_retries": 0, **params})  # fmt: skip


async def test_spans_per_request_and_batch_with_genai_attributes(fake, recorded):
    exporter, reader = recorded
    fake.script("gpt-4o-mini", failures=[None, 429, None], retry_after=None)
    calls = [_call(fake, f"{PROMPT} {i}", max_tokens=50) for i in range(3)]

    async def one(call):
        otel.queued(1, provider="openai", model="gpt-4o-mini")
        try:
            return await execute(call)  # the template put the tracing hook first in the call's hooks
        finally:
            otel.queued(-1, provider="openai", model="gpt-4o-mini")

    with otel.batch("gpt-4o-mini", provider="openai", size=3) as b:
        results = []
        for c in calls:  # in order, so the scripted 429 falls on the second
            try:
                results.append(await one(c))
            except RateLimitError as exc:
                results.append(exc)
        for r in results:
            b.result(r)
    spans = exporter.get_finished_spans()
    batch = next(s for s in spans if s.name == "batch gpt-4o-mini")
    reqs = [s for s in spans if s.name == "chat gpt-4o-mini"]
    assert len(reqs) == 3 and all(s.parent is not None and s.parent.span_id == batch.context.span_id for s in reqs)
    assert batch.attributes["volley.batch.size"] == 3
    assert (batch.attributes["volley.batch.ok"], batch.attributes["volley.batch.errors"]) == (2, 1)
    ok = [s for s in reqs if "error.type" not in s.attributes]
    bad = [s for s in reqs if "error.type" in s.attributes]
    assert len(ok) == 2 and len(bad) == 1
    a = ok[0].attributes
    assert ok[0].kind == SpanKind.CLIENT
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.system"] == "openai" and a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == fake.port
    assert a["gen_ai.response.model"] and a["gen_ai.response.id"].startswith("chatcmpl")
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    assert a["volley.cost_usd"] > 0 and a["volley.cache_hit"] is False
    e = bad[0]
    assert e.attributes["error.type"] == "RateLimitError" and e.attributes["http.response.status_code"] == 429
    assert e.status.status_code == StatusCode.ERROR
    everything = json.dumps([{**dict(s.attributes), "events": [dict(ev.attributes or {}) for ev in s.events],
                              "status": s.status.description} for s in spans], default=str)  # fmt: skip
    assert KEY not in everything and "SECRET" not in everything and PROMPT not in everything

    m = _metrics(reader)
    outcomes = {p.attributes["volley.outcome"]: p.value for p in m["volley.requests"]}
    assert outcomes == {"ok": 2, "error": 1}
    assert [(p.attributes["error.type"], p.value) for p in m["volley.errors"]] == [("RateLimitError", 1)]
    tokens = {p.attributes["gen_ai.token.type"]: p.value for p in m["volley.tokens"]}
    assert tokens["input"] == sum(s.attributes["gen_ai.usage.input_tokens"] for s in ok)
    assert sum(p.count for p in m["gen_ai.client.operation.duration"]) == 3
    assert sum(p.count for p in m["gen_ai.client.token.usage"]) == 4  # input + output, two answers
    assert m["volley.cost"][0].value == pytest.approx(sum(s.attributes["volley.cost_usd"] for s in ok))
    assert m["volley.queue.depth"][0].value == 0  # all three queued and finished


async def test_content_is_recorded_only_when_asked(fake, recorded):
    exporter, _ = recorded
    otel.configure(tracer_provider=otel._state["tracer_provider"], meter_provider=otel._state["meter_provider"],
                   capture_content=True)  # fmt: skip
    call = _call(fake, PROMPT)
    await execute(call)
    (span,) = exporter.get_finished_spans()
    assert PROMPT in span.attributes["gen_ai.input.messages"]
    assert "echo: " + PROMPT in span.attributes["gen_ai.output.messages"]
    assert KEY not in json.dumps(dict(span.attributes), default=str)


async def test_concurrent_requests_are_children_of_the_batch(fake, recorded):
    exporter, _ = recorded
    fake.script("gpt-4o-mini", latency=0.05)
    calls = [_call(fake, f"c{i}") for i in range(4)]
    with otel.batch("gpt-4o-mini", size=4):
        await asyncio.gather(*(execute(c) for c in calls))
    spans = exporter.get_finished_spans()
    (batch,) = [s for s in spans if s.name.startswith("batch")]
    reqs = [s for s in spans if s.name.startswith("chat")]
    assert len(reqs) == 4 and {s.parent.span_id for s in reqs} == {batch.context.span_id}
    assert len({s.context.span_id for s in reqs}) == 4


def test_import_volley_and_volley_otel_load_no_opentelemetry():
    code = "import sys, volley, volley.otel; print([m for m in sys.modules if m.startswith('opentelemetry')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_without_opentelemetry_everything_is_a_no_op(fake):
    code = f"""
import sys, asyncio
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'opentelemetry':
            raise ImportError('blocked')
sys.meta_path.insert(0, Block())
from volley import otel
from volley.prepare import prepare
from volley.send import execute
assert not otel.available()
params = {{"api_base": {fake.openai_base!r}, "api_key": "k"}}
call = prepare("gpt-4o-mini", [{{"role": "user", "content": "hi"}}], params)
async def main():
    with otel.batch("m", size=1) as b:
        with otel.request("openai", "m") as rec:
            rec.response(None)
        r = await otel.traced(call, lambda: execute(call))
        b.result(r)
    otel.queued(1)
    return r.choices[0].message.content
print(asyncio.run(main()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "echo: hi"


# ---------------------------------------------------------------- wired into the public calls


def test_batch_completion_is_one_batch_span_with_a_child_per_request(fake, recorded):
    import volley

    exporter, reader = recorded
    fake.script("gpt-4o-mini", latency=0.02, failures=[None, None, 500], retry_after=None)
    prompts = [[{"role": "user", "content": f"{PROMPT} {i}"}] for i in range(6)]
    # the sync API: the batch's steps run in different tasks on volley's loop
    out = volley.batch_completion("gpt-4o-mini", prompts, max_workers=3, api_base=fake.openai_base, api_key=KEY,
                                  num_retries=0)  # fmt: skip
    assert sum(isinstance(r, BaseException) for r in out) == 1
    spans = exporter.get_finished_spans()
    (batch,) = [s for s in spans if s.name == "batch gpt-4o-mini"]
    reqs = [s for s in spans if s.name == "chat gpt-4o-mini"]
    assert len(reqs) == 6 and {s.parent.span_id for s in reqs} == {batch.context.span_id}
    assert {s.context.trace_id for s in reqs} == {batch.context.trace_id}
    assert batch.attributes["volley.batch.size"] == 6 and batch.attributes["gen_ai.provider.name"] == "openai"
    assert (batch.attributes["volley.batch.ok"], batch.attributes["volley.batch.errors"]) == (5, 1)
    assert batch.end_time >= max(s.end_time for s in reqs)
    m = _metrics(reader)
    assert m["volley.queue.depth"][0].value == 0
    assert {p.attributes["volley.outcome"]: p.value for p in m["volley.requests"]} == {"ok": 5, "error": 1}
    assert KEY not in json.dumps([dict(s.attributes) for s in spans], default=str)


async def test_async_batch_span_is_a_child_of_the_callers_span(fake, recorded):
    import volley

    exporter, _ = recorded
    tracer = otel._state["tracer_provider"].get_tracer("app")
    with tracer.start_as_current_span("app work") as app:
        async for _ in volley.abatch_completion_iter("gpt-4o-mini", [[{"role": "user", "content": "a"}]] * 3,
                                                     api_base=fake.openai_base, api_key=KEY):  # fmt: skip
            pass
    spans = exporter.get_finished_spans()
    (batch,) = [s for s in spans if s.name.startswith("batch")]
    assert batch.parent.span_id == app.get_span_context().span_id
    assert len([s for s in spans if s.parent and s.parent.span_id == batch.context.span_id]) == 3


def test_unconfigured_opentelemetry_adds_nothing_to_a_call(fake):
    # Installed but not set up by the application: no hook, no span objects, and volley imports none of it.
    code = f"""
import sys, volley
from volley.prepare import Template
t = Template("gpt-4o-mini", {{"api_base": {fake.openai_base!r}, "api_key": "k"}})
r = volley.batch_completion("gpt-4o-mini", [[{{"role": "user", "content": "hi"}}]], api_base={fake.openai_base!r},
                            api_key="k")
print(len(t.hooks), r[0].choices[0].message.content, [m for m in sys.modules if m.startswith("opentelemetry")])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0 echo: hi []"


def test_enabled_follows_the_application_and_the_switch(monkeypatch, recorded):
    assert otel.enabled()  # configure() was given providers
    monkeypatch.setenv(otel.ENABLE_ENV, "0")
    assert not otel.enabled()
    from volley.prepare import Template

    assert Template("gpt-4o-mini", {"api_key": "k"}).hooks == ()
    monkeypatch.delenv(otel.ENABLE_ENV)
    assert Template("gpt-4o-mini", {"api_key": "k"}).hooks == (otel.traced,)
    otel.configure()  # back to the global providers, which this test process never set: off
    assert not otel.enabled()
