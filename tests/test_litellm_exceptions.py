"""LiteLLM's exceptions: ``volley.exceptions``, its constructors and attributes, and ``openai``'s types."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import textwrap

import httpx
import openai
import pytest

import volley
import volley.exceptions as exc
from volley.testing import FakeServer

MSG = [{"role": "user", "content": "hi"}]


def run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize(
    ("cls", "status", "twin"),
    [
        (exc.BadRequestError, 400, openai.BadRequestError),
        (exc.AuthenticationError, 401, openai.AuthenticationError),
        (exc.PermissionDeniedError, 403, openai.PermissionDeniedError),
        (exc.NotFoundError, 404, openai.NotFoundError),
        (exc.UnprocessableEntityError, 422, openai.UnprocessableEntityError),
        (exc.RateLimitError, 429, openai.RateLimitError),
        (exc.ContextWindowExceededError, 400, openai.BadRequestError),
        (exc.ContentPolicyViolationError, 400, openai.BadRequestError),
        (exc.InternalServerError, 500, openai.InternalServerError),
        (exc.BadGatewayError, 502, openai.InternalServerError),
        (exc.ServiceUnavailableError, 503, openai.InternalServerError),
        (exc.Timeout, 408, openai.APITimeoutError),
        (exc.APIConnectionError, None, openai.APIConnectionError),
    ],
)
def test_litellm_constructors_attributes_and_openai_types(cls, status, twin):
    e = cls(message="boom", llm_provider="openai", model="gpt-4o")
    assert (e.message, e.llm_provider, e.provider, e.model, e.status_code) == (
        "boom",
        "openai",
        "openai",
        "gpt-4o",
        status,
    )
    assert isinstance(e, twin) and isinstance(e, openai.APIError) and isinstance(e, volley.APIError)
    with pytest.raises(twin):
        raise e
    assert e.litellm_response_headers == {} and e.response.status_code == (status or 500)


def test_positional_orders_of_litellm():
    assert exc.RateLimitError("m", "anthropic", "claude").llm_provider == "anthropic"
    e = exc.BadRequestError("m", "gpt-4o", "openai")  # LiteLLM: (message, model, llm_provider)
    assert (e.model, e.llm_provider) == ("gpt-4o", "openai")
    api = exc.APIError(500, "boom", "openai", "gpt-4o")  # LiteLLM: (status_code, message, llm_provider, model)
    assert (api.status_code, api.message, api.llm_provider, api.model) == (500, "boom", "openai", "gpt-4o")
    t = exc.Timeout("slow", "gpt-4o", "openai")
    assert isinstance(t, TimeoutError) and (t.model, t.llm_provider) == ("gpt-4o", "openai")
    b = exc.BudgetExceededError(current_cost=2.0, max_budget=1.0)
    assert (b.current_cost, b.max_budget) == (2.0, 1.0) and "Budget has been exceeded" in b.message
    j = exc.JSONSchemaValidationError(model="m", llm_provider="p", raw_response="{", schema="{}")
    assert j.raw_response == "{" and isinstance(j, volley.StructuredOutputError)


def test_response_and_headers_from_a_real_error(fake: FakeServer):
    fake.script("gpt-4o", fail=429, retry_after=3)
    with pytest.raises(openai.RateLimitError) as info:
        volley.completion("gpt-4o", MSG, api_key="sk-k", api_base=fake.openai_base, num_retries=0)
    e = info.value
    assert e.llm_provider == "openai" and e.status_code == 429 and e.retry_after == 3
    assert e.litellm_response_headers["Retry-After"] == "3" and e.response.headers["retry-after"] == "3"
    assert isinstance(e.response, httpx.Response) and e.response.status_code == 429
    assert e.code is None or isinstance(e.code, str)
    again = pickle.loads(pickle.dumps(e))
    assert (type(again), again.message, again.retry_after, again.headers["retry-after"]) == (type(e), e.message, 3, "3")
    assert copy.deepcopy(e).status_code == 429


def test_a_litellm_response_argument_gives_the_headers():
    response = httpx.Response(429, headers={"retry-after": "7"}, request=httpx.Request("POST", "http://x"))
    e = exc.RateLimitError(message="slow", llm_provider="openai", model="m", response=response)
    assert e.response is response and e.headers["retry-after"] == "7"


def test_exceptions_module_is_litellms():
    import volley as litellm

    assert litellm.exceptions.RateLimitError is volley.RateLimitError
    for name in ("AuthenticationError", "NotFoundError", "BadRequestError", "UnprocessableEntityError", "Timeout",
                 "PermissionDeniedError", "RateLimitError", "ContextWindowExceededError", "RejectedRequestError",
                 "ContentPolicyViolationError", "InternalServerError", "ServiceUnavailableError", "BadGatewayError",
                 "APIError", "APIConnectionError", "APIResponseValidationError", "JSONSchemaValidationError",
                 "UnsupportedParamsError", "BudgetExceededError", "InvalidRequestError", "OpenAIError",
                 "MockException", "ImageFetchError"):  # fmt: skip
        assert issubclass(getattr(litellm.exceptions, name), Exception), name
    assert len(exc.LITELLM_EXCEPTION_TYPES) >= 15


def test_openai_imported_after_volley_still_catches():
    out = run("""
        import sys, volley
        try:
            volley.completion("gpt-4o", [{"role": "user", "content": "x"}],
                              mock_response=volley.RateLimitError(message="m", llm_provider="openai", model="gpt-4o"))
        except Exception as e:
            err = e
        assert "openai" not in sys.modules
        import openai
        print(isinstance(err, openai.RateLimitError), isinstance(err, openai.APIStatusError))
        try:
            raise err
        except openai.RateLimitError:
            print("caught")
    """)
    assert out.split() == ["True", "True", "caught"]


def test_openai_imported_before_volley():
    out = run("""
        import openai, volley
        try:
            volley.completion("gpt-4o", [{"role": "user", "content": "x"}], mock_response="litellm.Timeout")
        except openai.APITimeoutError as e:
            print(type(e).__name__, e.status_code)
    """)
    assert out == "Timeout 408"


def test_no_openai_import_and_the_watcher_leaves_no_trace():
    out = run("""
        import sys, time
        import volley, volley.errors
        print("openai" in sys.modules)
        t = time.perf_counter(); import openai; took = time.perf_counter() - t
        import volley.errors as E
        print(E._adopted, openai.__spec__.loader.__class__.__name__, E._watcher not in sys.meta_path)
        t = time.perf_counter(); E._adopted = False; E.adopt_openai()
        print("adopt_ms", round((time.perf_counter() - t) * 1000, 3))
    """)
    lines = out.splitlines()
    assert lines[0] == "False"
    adopted, loader, unwatched = lines[1].split()
    assert adopted == "True" and loader != "_AdoptAfter" and unwatched == "True"
    assert float(lines[2].split()[1]) < 50  # adding the bases is cheap (measured: well under a millisecond)
