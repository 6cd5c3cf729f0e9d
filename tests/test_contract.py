"""Every host + protocol passes the provider contract (volley.testing.contract) against the fake server;
and a new OpenAI-compatible host is one registered Provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import volley
from volley.protocols import get_protocol
from volley.testing import contract

KEY = "sk-contract-key-0123456789"
FIXTURES = Path(__file__).parent / "fixtures"

WIRES = [
    ("openai/m", "openai_base"), ("anthropic/m", "url"), ("cohere/m", "url"), ("gemini/m", "url"),
    ("ollama_chat/m", "url"),  # Ollama's native /api/chat (NDJSON streams)
    ("xai/m", "openai_base"), ("cerebras/m", "openai_base"), ("huggingface/m", "openai_base"),  # OpenAI-compatible
]  # fmt: skip


@pytest.mark.parametrize(("model", "base"), WIRES, ids=[m.split("/")[0] for m, _ in WIRES])
def test_every_builtin_protocol_passes_the_contract(fake, model, base):
    contract.check_provider(model, server=fake, api_base=getattr(fake, base), api_key=KEY)


def test_a_host_registered_at_run_time_routes_and_passes_the_contract(fake, monkeypatch):
    acme = volley.Provider("acme", "openai", default_base=fake.openai_base, key_env=("ACME_API_KEY",),
                           infer=("acme-",))  # fmt: skip
    volley.register_provider(acme)
    try:
        monkeypatch.setenv("ACME_API_KEY", KEY)
        contract.check_provider("acme/m", server=fake)
        r = volley.completion("acme-large", [{"role": "user", "content": "hi"}])  # inferred from its prefix
        assert r.provider == "acme" and fake.requests[-1].headers["authorization"] == f"Bearer {KEY}"
        with pytest.raises(ValueError, match="already registered"):
            volley.register_provider(volley.Provider("acme", "openai"))
    finally:
        from volley.providers import unregister_provider

        unregister_provider("acme")
    with pytest.raises(volley.BadRequestError, match="unknown provider 'acme'"):
        volley.completion("acme/m", [{"role": "user", "content": "hi"}])


def test_a_broken_host_fails_the_contract(fake):
    # The contract can fail: a host whose key header the server does not accept breaks it.
    volley.register_provider(volley.Provider("broken", "openai", default_base=fake.openai_base,
                                             auth_header=("x-wrong", "{key}")), replace=True)  # fmt: skip
    try:
        with pytest.raises((AssertionError, volley.AuthenticationError)):
            contract.check_provider("broken/m", server=fake, api_key=KEY)
    finally:
        from volley.providers import unregister_provider

        unregister_provider("broken")


@pytest.mark.parametrize(
    ("protocol", "fixture", "model"),
    [
        ("anthropic", "anthropic/text_response.json", "claude-x"),
        ("anthropic", "anthropic/tool_use_response.json", "claude-x"),
        ("cohere", "cohere/tool_call.json", "command-x"),
        ("gemini", "gemini/text.json", "gemini-x"),
        ("gemini", "gemini/tool_call.json", "gemini-x"),
        ("bedrock_converse", "bedrock/converse_tool_use.json", "anthropic.claude-x"),
        ("ollama", "ollama/chat_tool_calls.json", "llama3.2"),
        ("openai", "mistral/thinking.json", "magistral-medium"),
    ],
)
def test_recorded_answers_parse_to_valid_completions(protocol, fixture, model):
    contract.check_parse(get_protocol(protocol), json.loads((FIXTURES / fixture).read_text()), model)
