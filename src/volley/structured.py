"""Structured outputs: ``response_format=<pydantic class>`` → the provider's JSON-schema mode, and the
answer validated back into ``message.parsed``.

The class becomes ``{"type": "json_schema", "json_schema": {"name", "schema", "strict": True}}`` with a
strict schema (every object closed, every property required, as OpenAI's strict mode wants); each
protocol maps that to its own mode (OpenAI and compatible hosts natively, Gemini's
``responseJsonSchema``, Cohere's ``json_schema``, Anthropic through a forced tool). An answer that
does not validate is a retryable :class:`~volley.errors.StructuredOutputError` carrying the raw
text: the call's retries (``num_retries``) ask again, then the error is that item's result.

Example::

    class City(pydantic.BaseModel):
        name: str
        population: int

    r = volley.completion("gpt-4o-mini", msgs, response_format=City)
    r.choices[0].message.parsed   # City(name='Paris', population=2102650)
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .errors import StructuredOutputError

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def is_model_class(value: Any) -> bool:
    """Whether ``value`` is a pydantic model class (not an instance, not a dict)."""
    return isinstance(value, type) and callable(getattr(value, "model_json_schema", None))


def response_format(completion: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``(the pydantic class or None, completion)`` with a class in ``response_format`` replaced by its schema."""
    cls = completion.get("response_format")
    if not is_model_class(cls):
        return None, completion
    return cls, {**completion, "response_format": schema_format(cls)}


def schema_format(cls: Any) -> dict[str, Any]:
    """The ``response_format`` dict of a pydantic class (strict JSON schema, named after the class).

    Example: ``schema_format(City)["json_schema"]["schema"]["required"]`` → ``["name", "population"]``
    """
    schema = strict(cls.model_json_schema())
    name = re.sub(r"[^A-Za-z0-9_-]", "_", cls.__name__)[:64] or "response"
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a JSON schema in OpenAI's strict form: every object ``additionalProperties: false`` with
    all its properties required; ``title`` and a ``default`` of None dropped; ``$ref`` siblings moved."""
    out = copy.deepcopy(schema)
    _close(out)
    return out


def _close(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _close(item)
        return
    if not isinstance(node, dict):
        return
    node.pop("title", None)
    if "default" in node and node["default"] is None:
        node.pop("default")
    if node.get("type") == "object" or "properties" in node:
        props = node.get("properties") or {}
        node["additionalProperties"] = False
        node["required"] = list(props)
    if "$ref" in node and len(node) > 1:  # strict mode allows no siblings beside $ref
        ref = node.pop("$ref")
        node["allOf"] = [{"$ref": ref}]
    for key, value in list(node.items()):
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            for sub in value.values():
                _close(sub)
        elif isinstance(value, (dict, list)):
            _close(value)


def check(resp: Any, cls: Any) -> None:
    """Validate each choice's text against ``cls`` into ``message.parsed``; raise ``StructuredOutputError``
    (with the raw text) for the first that does not validate."""
    for choice in resp.choices:
        message = choice.message
        if message.parsed is not None and isinstance(message.parsed, cls):
            continue
        text = message.content or ""
        fenced = _FENCE.match(text)
        try:
            message._parsed = cls.model_validate_json(fenced.group(1) if fenced else text)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise StructuredOutputError(
                raw_response=text,
                schema=schema_format(cls)["json_schema"]["schema"],
                errors=str(exc)[:1000],
                provider=getattr(resp, "provider", "") or "",
                model=getattr(resp, "model", "") or "",
            ) from None
