"""LiteLLM's module settings do what they say: ``volley.num_retries = 3`` and friends, read by the core
through ``volley.settings`` (one place), checked when set, and LiteLLM's custom callbacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

import volley as litellm
from volley.testing import FakeServer

MSG = [{"role": "user", "content": "hi"}]
KEY = "sk-global-key-000000000"


@pytest.fixture(autouse=True)
def _reset(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    yield
    litellm.settings.settings.reset()


def test_settings_read_back_and_are_checked():
    assert litellm.num_retries is None and litellm.drop_params is False and litellm.success_callback == []
    litellm.num_retries = 5
    litellm.drop_params = True
    assert (litellm.num_retries, litellm.drop_params) == (5, True)
    for name, bad in (("num_retries", -1), ("num_retries", "3"), ("drop_params", "yes"), ("request_timeout", 0),
                      ("success_callback", print), ("cache", object()), ("api_key", 123)):  # fmt: skip
        with pytest.raises(litellm.InvalidRequestError, match=f"volley.{name}"):
            setattr(litellm, name, bad)
    litellm.success_callback.append(print)  # the stored list itself, as in LiteLLM
    assert litellm.success_callback == [print]
    litellm.num_retries = None
    assert litellm.num_retries is None


def test_global_num_retries(fake: FakeServer):
    fake.script("gpt-4o", failures=[500, 500])
    litellm.num_retries = 0
    with pytest.raises(litellm.InternalServerError):
        litellm.completion("gpt-4o", MSG, api_key="k", api_base=fake.openai_base)
    litellm.num_retries = 2
    r = litellm.completion("gpt-4o", MSG, api_key="k", api_base=fake.openai_base, retry_delay=0)
    assert r.model == "gpt-4o" and len(fake.requests) == 3
    fake.script("gpt-4o", failures=[500])
    with pytest.raises(litellm.InternalServerError):  # the call's own argument wins
        litellm.completion("gpt-4o", MSG, api_key="k", api_base=fake.openai_base, num_retries=0)


def test_global_key_and_base(fake: FakeServer):
    litellm.api_key = KEY
    litellm.api_base = fake.openai_base
    litellm.completion("gpt-4o-mini", MSG)
    assert fake.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    litellm.openai_key = "sk-openai-only-00000000"
    litellm.completion("gpt-4o-mini", MSG)
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-openai-only-00000000"
    litellm.completion("gpt-4o-mini", MSG, api_key="sk-per-call-0000000")
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-per-call-0000000"


def test_global_drop_params(fake: FakeServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    with pytest.raises(litellm.UnsupportedParamsError):
        litellm.completion("claude-3-5-haiku-latest", MSG, api_base=fake.url, logit_bias={"1": 1})
    litellm.drop_params = True
    litellm.completion("claude-3-5-haiku-latest", MSG, api_base=fake.url, logit_bias={"1": 1})
    assert "logit_bias" not in fake.requests[-1].json


def test_global_request_timeout(fake: FakeServer):
    fake.script("gpt-4o", latency=1.0)
    litellm.request_timeout = 0.1
    with pytest.raises(litellm.Timeout):
        litellm.completion("gpt-4o", MSG, api_key="k", api_base=fake.openai_base, num_retries=0)


def test_set_verbose_logs_to_stderr(fake: FakeServer):
    code = (
        "import volley; from volley.testing import FakeServer\n"
        "volley.set_verbose = True\n"
        "with FakeServer() as f:\n"
        "    f.script('gpt-4o', failures=[500])\n"
        "    volley.completion('gpt-4o', [{'role': 'user', 'content': 'x'}], api_key='sk-secret-000000',"
        " api_base=f.openai_base, retry_delay=0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "attempt 1 failed" in out.stderr and "sk-secret-000000" not in out.stderr
    litellm.suppress_debug_info = True  # accepted: volley prints no banner


def test_success_and_failure_callbacks_with_litellms_signature(fake: FakeServer):
    seen: list[tuple] = []

    def on_success(kwargs, completion_response, start_time, end_time):
        seen.append(("ok", kwargs["model"], kwargs["metadata"], completion_response.cost, end_time >= start_time))

    def on_failure(kwargs, completion_response, start_time, end_time):
        seen.append(("failed", kwargs["model"], type(kwargs["exception"]).__name__, completion_response))

    litellm.success_callback = [on_success]
    litellm.failure_callback = [on_failure]
    fake.script("gpt-4o", failures=[None, 400])
    out = litellm.batch_completion("gpt-4o", [MSG, MSG], api_key="k", api_base=fake.openai_base, max_workers=1,
                                   metadata={"job": 7})  # fmt: skip
    assert isinstance(out[1], litellm.BadRequestError)
    assert seen[0][:3] == ("ok", "gpt-4o", {"job": 7}) and seen[0][3] > 0 and seen[0][4] is True
    assert seen[1] == ("failed", "gpt-4o", "BadRequestError", None)


def test_custom_logger_objects_sync_and_async(fake: FakeServer):
    events: list[str] = []

    class Handler(litellm.CustomLogger):
        def log_pre_api_call(self, model, messages, kwargs):
            events.append(f"pre {model}")

        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
            events.append(f"async ok {response_obj.model}")

    class Plain:  # duck-typed, LiteLLM's method names only
        def log_success_event(self, kwargs, response_obj, start_time, end_time):
            events.append("plain ok")

        def log_failure_event(self, kwargs, response_obj, start_time, end_time):
            events.append("plain failed")

    litellm.callbacks = [Handler(), Plain()]
    litellm.completion("gpt-4o", MSG, api_key="k", api_base=fake.openai_base)
    assert events == ["pre gpt-4o", "async ok gpt-4o", "plain ok"]


def test_a_raising_callback_never_changes_the_result(fake: FakeServer, caplog):
    def broken(kwargs, response, start, end):
        raise RuntimeError("callback bug")

    litellm.success_callback = [broken, "langfuse"]
    r = litellm.completion("gpt-4o", MSG, api_key="k", api_base=fake.openai_base)
    assert r.model == "gpt-4o"
    assert "callback bug" in caplog.text and "langfuse" in caplog.text


def test_logger_fn_sees_the_call_before_it_is_sent(fake: FakeServer):
    calls = []
    litellm.completion("gpt-4o", MSG, api_key="k", api_base=fake.openai_base,
                       logger_fn=lambda details: calls.append((details["model"], len(fake.requests))))  # fmt: skip
    assert calls == [("gpt-4o", 0)]


def test_global_cache_object(fake: FakeServer):
    litellm.cache = litellm.Cache()
    a = litellm.completion("gpt-4o", MSG, api_key="k", api_base=fake.openai_base)
    b = litellm.completion("gpt-4o", MSG, api_key="k", api_base=fake.openai_base)
    assert (a.cache_hit, b.cache_hit, len(fake.requests)) == (False, True, 1)
    c = litellm.completion("gpt-4o", MSG, api_key="k", api_base=fake.openai_base, cache={"no-cache": True})
    assert not c.cache_hit and len(fake.requests) == 2
    litellm.completion("gpt-4o", MSG, api_key="k", api_base=fake.openai_base, caching=False)
    assert len(fake.requests) == 3


def test_settings_are_read_in_one_place():
    """The core reads module settings through volley.settings alone (no getattr on the package)."""
    import pathlib

    src = pathlib.Path(litellm.__file__).parent
    offenders = [p.name for p in src.rglob("*.py") if p.name != "__init__.py"
                 and ("sys.modules[\"volley\"]" in p.read_text() or "getattr(volley," in p.read_text())]  # fmt: skip
    assert offenders == []
    users = sorted(str(p.relative_to(src)) for p in src.rglob("*.py") if "from .settings import" in p.read_text()
                   or "from ..settings import" in p.read_text())  # fmt: skip
    assert users == ["compat/helpers.py", "compat/router.py", "hooks/callbacks.py", "prepare.py"]
