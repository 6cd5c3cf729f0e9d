"""Structured outputs: ``response_format=<pydantic class>`` → each provider's schema mode, validated into
``message.parsed``; invalid answers retried, then ``StructuredOutputError`` with the raw text."""

from __future__ import annotations

import json

import pydantic
import pytest

import volley
from volley.structured import schema_format
from volley.testing import FakeServer, MockTransport

KEY = "sk-structured-0000000"
MSG = [{"role": "user", "content": "Tell me about Paris"}]
PARIS = {"name": "Paris", "population": 2102650, "landmarks": [{"name": "Eiffel Tower", "year": 1889}]}


class Landmark(pydantic.BaseModel):
    name: str
    year: int | None = None


class City(pydantic.BaseModel):
    name: str
    population: int
    landmarks: list[Landmark]


def test_schema_is_strict():
    fmt = schema_format(City)
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "City" and fmt["json_schema"]["strict"]
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False and schema["required"] == ["name", "population", "landmarks"]
    nested = schema["$defs"]["Landmark"]
    assert nested["additionalProperties"] is False and nested["required"] == ["name", "year"]


@pytest.mark.parametrize(
    ("model", "base"),
    [
        ("openai/gpt-4o", "openai_base"),
        ("gemini/gemini-2.5-flash", "url"),
        ("cohere/command-a", "url"),
        ("groq/openai/gpt-oss-120b", "openai_base"),
    ],
)
def test_json_schema_mode_providers(fake: FakeServer, model, base):
    fake.script(model.split("/", 1)[1], content=json.dumps(PARIS))
    r = volley.completion(model, MSG, response_format=City, api_key=KEY, api_base=getattr(fake, base))
    city = r.choices[0].message.parsed
    assert isinstance(city, City) and city.landmarks[0].name == "Eiffel Tower"
    body = json.dumps(fake.requests[-1].json)
    assert "population" in body  # the schema went to the provider in its own shape


def test_anthropic_gets_the_schema_as_a_forced_tool(fake: FakeServer):
    fake.script("claude-sonnet-4-5", tool_call={"name": "json_response", "arguments": PARIS})
    r = volley.completion("anthropic/claude-sonnet-4-5", MSG, response_format=City, api_key=KEY, api_base=fake.url)
    assert r.choices[0].message.parsed == City.model_validate(PARIS)
    sent = fake.requests[-1].json
    assert sent["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert sent["tools"][0]["input_schema"]["required"] == ["name", "population", "landmarks"]


def test_invalid_answer_is_retried_then_valid():
    answers = iter(['{"name": "Paris"}', "```json\n" + json.dumps(PARIS) + "\n```"])

    def handler(request):
        return {"choices": [{"message": {"content": next(answers)}}]}

    r = volley.completion("openai/gpt-4o", MSG, response_format=City, api_key=KEY, transport=MockTransport(handler),
                          num_retries=1, retry_delay=0)  # fmt: skip
    assert r.choices[0].message.parsed.population == 2102650


def test_invalid_after_retries_is_the_items_typed_error(fake: FakeServer):
    fake.script("gpt-4o", content="Paris is a city in France.")
    out = volley.batch_completion("openai/gpt-4o", [MSG, MSG], response_format=City, api_key=KEY,
                                  api_base=fake.openai_base, num_retries=2, retry_delay=0)  # fmt: skip
    for e in out:
        assert isinstance(e, volley.StructuredOutputError)
        assert e.raw_response == "Paris is a city in France." and "population" in json.dumps(e.schema)
    assert len(fake.requests) == 6  # each item: 1 + 2 retries


def test_a_cache_hit_is_parsed_too(fake: FakeServer, tmp_path):
    fake.script("gpt-4o", content=json.dumps(PARIS))
    kw = {"response_format": City, "api_key": KEY, "api_base": fake.openai_base, "cache": True,
          "cache_path": tmp_path / "c.sqlite"}  # fmt: skip
    volley.completion("openai/gpt-4o", MSG, **kw)
    hit = volley.completion("openai/gpt-4o", MSG, **kw)
    assert hit.cache_hit and isinstance(hit.choices[0].message.parsed, City)


def test_dict_response_format_still_works_and_parsed_stays_none(fake: FakeServer):
    fake.script("gpt-4o", content="{}")
    r = volley.completion("openai/gpt-4o", MSG, response_format={"type": "json_object"}, api_key=KEY,
                          api_base=fake.openai_base)  # fmt: skip
    assert r.choices[0].message.parsed is None and r.choices[0].message.content == "{}"


def _cloud_kw(model: str, fake: FakeServer) -> dict:
    from volley.testing.wires.bedrock import FAKE_AWS_ACCESS_KEY_ID, FAKE_AWS_SECRET_ACCESS_KEY

    if model.startswith("bedrock/"):
        return {"api_base": fake.url, "aws_region_name": "us-east-1", "aws_access_key_id": FAKE_AWS_ACCESS_KEY_ID,
                "aws_secret_access_key": FAKE_AWS_SECRET_ACCESS_KEY}  # fmt: skip
    if model.startswith("azure/"):
        return {"api_base": fake.url, "api_key": KEY, "api_version": "2024-10-21"}
    return {"api_base": fake.url}  # ollama_chat: no key


@pytest.mark.parametrize(
    "model", ["bedrock/amazon.nova-pro-v1:0", "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0", "azure/gpt4o-prod",
              "ollama_chat/qwen3"],
)  # fmt: skip
def test_the_schema_mode_of_the_cloud_hosts_and_ollama(fake: FakeServer, model: str):
    """Issue 14 asks for pydantic response formats on every provider: Bedrock (Converse's output config), Azure
    (OpenAI's json_schema) and Ollama's native ``format`` too, each accepted by the fake's request checks."""
    fake.script(model.split("/", 1)[1], content=json.dumps(PARIS))
    r = volley.completion(model, MSG, response_format=City, num_retries=0, **_cloud_kw(model, fake))
    assert r.choices[0].message.parsed == City.model_validate(PARIS)
    assert "population" in json.dumps(fake.requests[-1].json)
