"""Structured output: a pydantic model class or a JSON Schema → ``response_format``, and answers → fields.

The request asks for ``{"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}``.
A pydantic class's schema is made strict-ready the way OpenAI's structured outputs want it (every
object closed with ``additionalProperties: false`` and every property required); a JSON Schema dict
is sent as given. Each answer is parsed (a surrounding Markdown code fence is tolerated) and
validated: by the pydantic class, or by ``jsonschema`` for a dict (``pip install 'volley-llm[tables]'``).
The schema must describe an object; its top-level properties become the result's columns.

Example::

    class Review(pydantic.BaseModel):
        sentiment: Literal["positive", "negative"]
        stars: int

    s = Schema.of(Review)
    s.fields                       # ['sentiment', 'stars']
    s.parse('{"sentiment": "positive", "stars": 5}')   # {'sentiment': 'positive', 'stars': 5}
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._optional import need


class SchemaError(ValueError):
    """The schema itself is unusable (not an object schema, not importable, not JSON)."""


class OutputParseError(ValueError):
    """An answer that is not valid JSON."""


class OutputValidationError(ValueError):
    """An answer that is JSON but does not match the schema."""


_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


@dataclass(frozen=True)
class Schema:
    """A structured-output schema: its name, JSON Schema, fields, and (for pydantic) the model class."""

    name: str
    json_schema: dict[str, Any]
    model: Any = None  # the pydantic BaseModel subclass, when given one

    @classmethod
    def of(cls, schema: Any) -> Schema:
        """From a pydantic model class, a JSON Schema dict, or a :class:`Schema`."""
        if isinstance(schema, Schema):
            return schema
        if isinstance(schema, dict):
            if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
                raise SchemaError('the schema must describe a JSON object: {"type": "object", "properties": {...}}')
            return cls(_name(schema.get("title") or "response"), schema)
        if isinstance(schema, type) and hasattr(schema, "model_json_schema") and hasattr(schema, "model_validate"):
            return cls(_name(schema.__name__), strict(schema.model_json_schema()), schema)
        raise SchemaError(f"schema must be a pydantic model class or a JSON Schema dict, got {type(schema).__name__}")

    @classmethod
    def load(cls, spec: str | os.PathLike[str]) -> Schema:
        """From ``"package.module:Model"`` (a pydantic class by import path) or a JSON Schema file path.

        Example: ``Schema.load("myapp.models:Review")`` or ``Schema.load("review.schema.json")``.
        """
        text = str(spec)
        path = Path(text)
        if path.suffix.lower() == ".json" or path.is_file():
            try:
                return cls.of(json.loads(path.read_text(encoding="utf-8")))
            except OSError as exc:
                raise SchemaError(f"cannot read the schema file {path}: {exc.strerror or exc}") from None
            except ValueError as exc:
                if isinstance(exc, SchemaError):
                    raise SchemaError(f"{path}: {exc}") from None
                raise SchemaError(f"{path} is not valid JSON: {exc}") from None
        module_name, sep, attr = text.partition(":")
        if not sep or not module_name or not attr:
            raise SchemaError(f"schema {text!r}: give a JSON Schema file, or a pydantic class as package.module:Class")
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise SchemaError(f"schema {text!r}: cannot import {module_name}: {exc}") from None
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise SchemaError(f"schema {text!r}: {module_name} has no attribute {attr!r}")
            obj = getattr(obj, part)
        return cls.of(obj)

    @property
    def fields(self) -> list[str]:
        """The top-level property names: one result column each."""
        return list(self.json_schema["properties"])

    def response_format(self) -> dict[str, Any]:
        """The ``response_format`` parameter of each request."""
        return {"type": "json_schema", "json_schema": {"name": self.name, "schema": self.json_schema, "strict": True}}

    def parse(self, text: str | None) -> dict[str, Any]:
        """An answer → its field values; :class:`OutputParseError` / :class:`OutputValidationError` if it fails."""
        if text is None or not text.strip():
            raise OutputParseError("the answer is empty, not a JSON object")
        fenced = _FENCE.match(text)
        try:
            value = json.loads(fenced.group(1) if fenced else text)
        except ValueError as exc:
            raise OutputParseError(f"the answer is not valid JSON: {exc}") from None
        if self.model is not None:
            try:
                parsed = self.model.model_validate(value)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                raise OutputValidationError(f"the answer does not match {self.name}: {_short(exc)}") from None
            dumped = parsed.model_dump(mode="json")
            return {k: dumped.get(k) for k in self.fields}
        jsonschema = need("jsonschema", extra="tables", purpose="checking answers against a JSON Schema dict")
        try:
            jsonschema.validate(value, self.json_schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path)
            raise OutputValidationError(f"the answer does not match the schema{' at ' + where if where else ''}: "
                                        f"{exc.message}") from None  # fmt: skip
        return {k: value.get(k) for k in self.fields}


def _name(text: str) -> str:
    """A ``json_schema.name``: letters, digits, ``_`` and ``-``, at most 64."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:64] or "response"


def _short(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = [f"{'.'.join(map(str, e.get('loc', ()))) or '(root)'}: {e.get('msg')}" for e in errors()[:3]]
        return "; ".join(parts)
    return str(exc)


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` ready for ``strict: true``: objects closed, all properties required, no null defaults."""
    out = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for x in node:
                walk(x)
            return
        if not isinstance(node, dict):
            return
        if "default" in node and node["default"] is None:
            del node["default"]
        props = node.get("properties")
        if node.get("type") == "object" or isinstance(props, dict):
            node["additionalProperties"] = False
            if isinstance(props, dict):
                node["required"] = list(props)
        for key in ("properties", "$defs", "definitions"):
            if isinstance(node.get(key), dict):
                for child in node[key].values():
                    walk(child)
        for key in ("items", "anyOf", "allOf", "oneOf", "prefixItems"):
            if key in node:
                walk(node[key])

    walk(out)
    return out
