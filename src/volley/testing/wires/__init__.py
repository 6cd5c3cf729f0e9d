"""The fake server's wire protocols, one module per protocol (``openai``, ``anthropic``, ``cohere``, ``gemini``,
``bedrock``: Converse and, as ``bedrock_invoke``, InvokeModel with Anthropic bodies; ``ollama``: ``/api/chat``).

``WIRES`` maps a protocol name to its :class:`~volley.testing.wires.base.Wire`; a new protocol adds
its module here and registers its wire with :func:`register_wire`.
"""

from __future__ import annotations

from .anthropic import AnthropicWire
from .base import Answer, BadRequest, Prompt, Tool, Wire, dumps, go_duration, make_answer, rfc3339, status_message
from .bedrock import BedrockInvokeWire, BedrockWire
from .cohere import CohereWire
from .gemini import GeminiWire
from .ollama import OllamaWire
from .openai import OpenAIWire

WIRES: dict[str, Wire] = {}


def register_wire(wire: Wire) -> None:
    """Make the fake server speak ``wire`` (keyed by ``wire.name``)."""
    WIRES[wire.name] = wire


for _wire in (OpenAIWire(), AnthropicWire(), CohereWire(), GeminiWire(), BedrockWire(), BedrockInvokeWire(),
              OllamaWire()):  # fmt: skip
    register_wire(_wire)

__all__ = [
    "WIRES", "Answer", "BadRequest", "Prompt", "Tool", "Wire", "dumps", "go_duration", "make_answer",
    "register_wire", "rfc3339", "status_message",
]  # fmt: skip
