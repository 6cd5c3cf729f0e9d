"""LiteLLM's helpers that batch scripts use to pre-filter, price and test, over volley's own pieces.

Token counts come from :mod:`volley.tokens` (a real tokenizer with the ``tokenizer`` extra; an
estimate otherwise, and :func:`volley.tokens.count_tokens` says which), model facts and prices from
:mod:`volley.modelinfo` and :mod:`volley.pricing` (one table per fact).

Example::

    import volley as litellm
    n = litellm.token_counter(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    if n < litellm.get_model_info("gpt-4o-mini")["max_input_tokens"]:
        r = litellm.completion("gpt-4o-mini", [{"role": "user", "content": "Hi"}])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from .. import modelinfo, pricing, tokens
from ..settings import settings

__all__ = [
    "acompletion_with_retries", "completion_cost", "completion_with_retries", "cost_per_token", "decode", "encode",
    "get_llm_provider", "get_max_tokens", "get_model_info", "get_supported_openai_params", "mock_completion",
    "model_cost", "provider_list", "register_model", "supports_function_calling", "supports_prompt_caching",
    "supports_reasoning", "supports_response_schema", "supports_system_messages", "supports_tool_choice",
    "supports_vision", "token_counter", "turn_on_debug", "validate_environment",
]  # fmt: skip


# ---------------------------------------------------------------------- tokens


def token_counter(
    model: str = "", text: str | list[str] | None = None, messages: list[dict[str, Any]] | None = None, **_: Any
) -> int:
    """Prompt tokens of ``messages`` (with the chat template's overhead) or of ``text``, for ``model``.

    The model's own tokenizer when the ``tokenizer`` extra is installed; otherwise an estimate. To know
    which, call :func:`volley.tokens.count_tokens` (it returns ``(count, exact)``).

    Example::

        volley.token_counter(model="gpt-4o", messages=[{"role": "user", "content": "hello there"}])  # 9
    """
    if messages is not None:
        return tokens.count_tokens(model, messages)[0]
    if text is None:
        raise ValueError("token_counter needs messages= or text=")
    pieces = [text] if isinstance(text, str) else list(text)
    return sum(tokens.count_text(model, t)[0] for t in pieces)


def _tokenizer(model: str) -> Any:
    tok, _ = tokens.model_tokenizer(model)
    if tok is None:
        raise ImportError("encode/decode need a tokenizer: pip install 'volley-llm[tokenizer]' (quicktok-v1)")
    return tok


def encode(model: str = "", text: str = "", **_: Any) -> list[int]:
    """Token ids of ``text`` with ``model``'s tokenizer (``cl100k_base`` for a model whose own volley
    lacks, as LiteLLM). Needs the ``tokenizer`` extra.

    Example: ``volley.encode(model="gpt-4o", text="hello world")`` → ``[24912, 2375]``
    """
    return list(_tokenizer(model).encode_ordinary(text))


def decode(model: str = "", tokens: list[int] | None = None, **_: Any) -> str:
    """The text of token ids (the inverse of :func:`encode`).

    Example: ``volley.decode(model="gpt-4o", tokens=[24912, 2375])`` → ``"hello world"``
    """
    return str(_tokenizer(model).decode(list(tokens or [])))


# ---------------------------------------------------------------------- model facts


def get_model_info(model: str, custom_llm_provider: str | None = None) -> dict[str, Any]:
    """LiteLLM's model-info dict (context window, output ceiling, costs, ``supports_*``); raises
    ``ValueError`` for a model volley knows nothing about.

    Example: ``volley.get_model_info("gpt-4o-mini")["max_input_tokens"]`` → ``128000``
    """
    return modelinfo.model_info(model, custom_llm_provider)


def get_max_tokens(model: str) -> int | None:
    """The model's output ceiling in tokens (LiteLLM's ``max_tokens``), or None when unknown.

    Example: ``volley.get_max_tokens("gpt-4o-mini")`` → ``16384``
    """
    ceiling, known = pricing.model_max_output(model)
    return ceiling if known else None


def register_model(model_cost: Mapping[str, Mapping[str, Any]]) -> None:
    """Add or correct models in LiteLLM's ``model_cost`` format (see :func:`volley.modelinfo.register_model`).

    Example: ``volley.register_model({"openai/my-ft": {"input_cost_per_token": 3e-6, "max_input_tokens": 8192}})``
    """
    modelinfo.register_model(model_cost)


def _supports(capability: str, name: str) -> Any:
    def check(model: str, custom_llm_provider: str | None = None) -> bool:
        return modelinfo.supports(model, capability, custom_llm_provider)

    check.__name__ = check.__qualname__ = name
    check.__doc__ = f"""Whether the model supports {modelinfo.CAPABILITIES[capability][9:].replace("_", " ")}
    (False for a model volley does not know).

    Example: ``volley.{name}("gpt-4o-mini")``
    """
    return check


supports_function_calling = _supports("tools", "supports_function_calling")
supports_vision = _supports("vision", "supports_vision")
supports_response_schema = _supports("schema", "supports_response_schema")
supports_reasoning = _supports("reasoning", "supports_reasoning")
supports_system_messages = _supports("system", "supports_system_messages")
supports_prompt_caching = _supports("caching", "supports_prompt_caching")
supports_tool_choice = _supports("tool_choice", "supports_tool_choice")


class ModelCost(MutableMapping[str, dict[str, Any]]):
    """LiteLLM's ``litellm.model_cost``: every model volley has facts on, read live from the tables.

    ``model_cost["gpt-4o"]`` is :func:`get_model_info`'s dict; assigning an entry registers it.
    """

    def __getitem__(self, model: str) -> dict[str, Any]:
        try:
            return modelinfo.model_info(model)
        except ValueError:
            raise KeyError(model) from None

    def __setitem__(self, model: str, entry: dict[str, Any]) -> None:
        modelinfo.register_model({model: entry})

    def __delitem__(self, model: str) -> None:
        raise TypeError("volley's model table cannot forget a model; register a corrected entry instead")

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and modelinfo.known(model)

    def __iter__(self) -> Iterator[str]:
        return iter(modelinfo.names())

    def __len__(self) -> int:
        return len(modelinfo.names())


model_cost = ModelCost()


# ---------------------------------------------------------------------- cost


def cost_per_token(
    model: str = "", prompt_tokens: int = 0, completion_tokens: int = 0, custom_llm_provider: str | None = None,
    **_: Any,
) -> tuple[float, float]:  # fmt: skip
    """``(prompt USD, completion USD)`` for the token counts; ``ValueError`` for a model with no price.

    Example: ``volley.cost_per_token("gpt-4o", prompt_tokens=1000, completion_tokens=200)`` → ``(0.0025, 0.002)``
    """
    price = pricing.model_price(model, custom_llm_provider)
    if price is None:
        raise ValueError(f"volley has no price for model {model!r}; add one with volley.register_model({{...}})")
    return prompt_tokens * price[0] / 1e6, completion_tokens * price[1] / 1e6


def completion_cost(
    completion_response: Any = None,
    model: str | None = None,
    prompt: str = "",
    messages: list[dict[str, Any]] | None = None,
    completion: str = "",
    *,
    provider: str | None = None,
    custom_llm_provider: str | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    **_: Any,
) -> float | None:
    """USD a completion cost: of a response (its usage), or of ``prompt`` / ``messages`` and
    ``completion`` texts (counted with the model's tokenizer), or of token counts (prompt-cache reads
    and writes among the prompt tokens at the model's cache rates). None when the model has no price
    (volley never reports an unknown price as 0.0; LiteLLM raises there).

    Example::

        volley.completion_cost(r)                                     # same as r.cost
        volley.completion_cost(model="gpt-4o", prompt="Hi", completion="Hello! How can I help?")
    """
    provider = provider or custom_llm_provider
    if completion_response is None and model and (prompt or messages is not None or completion):
        if messages is not None:
            prompt_tokens = tokens.count_tokens(model, messages)[0]
        elif prompt:
            prompt_tokens = tokens.count_text(model, prompt)[0]
        completion_tokens = tokens.count_text(model, completion)[0] if completion else 0
    return pricing.completion_cost(
        completion_response, model=model, provider=provider, prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens, cached_tokens=cached_tokens, cache_write_tokens=cache_write_tokens,
    )  # fmt: skip


# ---------------------------------------------------------------------- providers and parameters


def get_llm_provider(
    model: str, custom_llm_provider: str | None = None, api_base: str | None = None, api_key: str | None = None
) -> tuple[str, str, str | None, str | None]:
    """``(model, provider, api_key, api_base)`` as LiteLLM returns them: which host a model name goes to.

    Example: ``volley.get_llm_provider("groq/llama-3.3-70b-versatile")`` → ``("llama-3.3-70b-versatile", "groq", None, "https://api.groq.com/openai/v1")``
    """
    from ..routing import find

    name = (
        model
        if not custom_llm_provider or model.startswith(f"{custom_llm_provider}/")
        else f"{custom_llm_provider}/{model}"
    )
    host, bare = find(name)
    try:
        base: str | None = host.base(api_base, {})
    except Exception:  # a host that needs api_base= and got none
        base = api_base
    return bare, host.name, api_key, base


def get_supported_openai_params(model: str, custom_llm_provider: str | None = None, **_: Any) -> list[str]:
    """The OpenAI parameters volley maps for the model's provider (anything else is refused, or
    dropped with ``drop_params=True``).

    Example: ``"tools" in volley.get_supported_openai_params("claude-3-5-haiku-latest")`` → ``True``
    """
    from ..routing import find

    target = model if not custom_llm_provider else f"{custom_llm_provider}/{model.split('/', 1)[-1]}"
    host = find(target)[0]
    return sorted(host.wire.SUPPORTED_PARAMS)


def validate_environment(
    model: str | None = None, api_key: str | None = None, api_base: str | None = None
) -> dict[str, Any]:
    """``{"keys_in_environment": bool, "missing_keys": [...]}``: whether a call to ``model`` has a key
    (from ``api_key``, ``volley.api_key`` / ``volley.<provider>_key`` or the environment).

    Example: ``volley.validate_environment("gpt-4o-mini")`` → ``{"keys_in_environment": True, "missing_keys": []}``
    """
    from ..routing import find

    if not model:
        return {"keys_in_environment": False, "missing_keys": []}
    host, _ = find(model)
    import os

    found = api_key or settings.key_for(host.name) or any(os.environ.get(n) for n in host.key_env)
    missing = [] if found or not host.key_required else list(host.key_env[:1])
    return {"keys_in_environment": not missing, "missing_keys": missing}


def _provider_list() -> list[str]:
    from ..providers import provider_names

    return provider_names()


#: LiteLLM's ``provider_list``: every provider (and alias) volley routes to.
provider_list: list[str] = _provider_list()


# ---------------------------------------------------------------------- calls


def completion_with_retries(*args: Any, **kwargs: Any) -> Any:
    """``completion`` with ``num_retries`` (default 3) retries; LiteLLM's ``retry_strategy`` is accepted
    (volley always backs off exponentially, honouring ``retry-after``).

    Example: ``volley.completion_with_retries(model="gpt-4o-mini", messages=msgs, num_retries=5)``
    """
    from ..api import completion

    kwargs.pop("retry_strategy", None)
    kwargs.pop("original_function", None)
    kwargs.setdefault("num_retries", 3)
    return completion(*args, **kwargs)


async def acompletion_with_retries(*args: Any, **kwargs: Any) -> Any:
    """Async :func:`completion_with_retries`.

    Example: ``await volley.acompletion_with_retries(model="gpt-4o-mini", messages=msgs)``
    """
    from ..api import acompletion

    kwargs.pop("retry_strategy", None)
    kwargs.pop("original_function", None)
    kwargs.setdefault("num_retries", 3)
    return await acompletion(*args, **kwargs)


def mock_completion(
    model: str, messages: list[dict[str, Any]], stream: bool = False, mock_response: Any = "This is a mock request",
    **kwargs: Any,
) -> Any:  # fmt: skip
    """A completion answered with ``mock_response`` (text, or an exception to raise) without a request.

    Example: ``volley.mock_completion("gpt-4o", msgs, mock_response="Hi!").choices[0].message.content`` → ``"Hi!"``
    """
    from ..api import completion

    return completion(model, messages, mock_response=mock_response, **{**kwargs, "stream": stream})


def turn_on_debug() -> None:
    """volley's DEBUG log on stderr (the same as ``volley.set_verbose = True``).

    Example: ``volley.turn_on_debug()``
    """
    settings.set("set_verbose", True)
