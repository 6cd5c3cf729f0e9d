"""The AWS Bedrock Runtime wires: Converse / ConverseStream, and InvokeModel for Anthropic Claude.

Requests are authenticated as AWS does it: a SigV4 ``Authorization`` header whose signature the
fake recomputes (botocore's signer, needed for this check: ``pip install 'volley-llm[bedrock]'``)
with the static test credentials below, or a Bedrock API key as ``Authorization: Bearer``. Errors
are ``{"message": ...}`` bodies with the error type in ``x-amzn-ErrorType``; streams are AWS
event-stream binary messages (``application/vnd.amazon.eventstream``).

Routes (``FakeServer``): ``POST /model/{modelId}/converse``, ``/converse-stream``, ``/invoke`` and
``/invoke-with-response-stream`` (the last two take Anthropic Messages bodies).

Example::

    with FakeServer() as server:
        client = boto3.client("bedrock-runtime", endpoint_url=server.url, region_name="us-east-1",
                              aws_access_key_id=FAKE_AWS_ACCESS_KEY_ID,
                              aws_secret_access_key=FAKE_AWS_SECRET_ACCESS_KEY)
        client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}])
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from ...transports.eventstream import encode_message
from .anthropic import AnthropicWire
from .base import Answer, BadRequest, Prompt, Wire, dumps, pieces, thirds, word_count

__all__ = [
    "FAKE_AWS_ACCESS_KEY_ID",
    "FAKE_AWS_SECRET_ACCESS_KEY",
    "FAKE_AWS_SESSION_ACCESS_KEY_ID",
    "FAKE_AWS_SESSION_SECRET_ACCESS_KEY",
    "FAKE_AWS_SESSION_TOKEN",
    "BedrockInvokeWire",
    "BedrockWire",
    "sigv4_error",
]

FAKE_AWS_ACCESS_KEY_ID = "AKIAFAKEVOLLEY000001"
FAKE_AWS_SECRET_ACCESS_KEY = "fakeVolleySecretAccessKey/0000000000000+"
"""Long-term test credentials the fake accepts."""
FAKE_AWS_SESSION_ACCESS_KEY_ID = "ASIAFAKEVOLLEY000002"
FAKE_AWS_SESSION_SECRET_ACCESS_KEY = "fakeVolleySessionSecretKey/000000000000+"
FAKE_AWS_SESSION_TOKEN = "FakeVolleySessionToken//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
"""Temporary test credentials: they must come with this ``X-Amz-Security-Token``."""

_KNOWN_KEYS = {
    FAKE_AWS_ACCESS_KEY_ID: (FAKE_AWS_SECRET_ACCESS_KEY, None),
    FAKE_AWS_SESSION_ACCESS_KEY_ID: (FAKE_AWS_SESSION_SECRET_ACCESS_KEY, FAKE_AWS_SESSION_TOKEN),
}
SERVICE = "bedrock"
MAX_SKEW = 5 * 60
"""Seconds a request's ``X-Amz-Date`` may be off the server's clock."""

_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
_BAD_TOKEN = "The security token included in the request is invalid."


def _amz_now(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def sigv4_error(
    method: str, url: str, headers: Any, body: bytes, *, now: float | None = None
) -> tuple[int, str, str] | None:
    """``(status, error type, message)`` unless ``headers`` carry a valid SigV4 signature of the request
    by one of the fake's test credentials; ``url`` has the path exactly as received.

    The signature is recomputed with botocore's ``SigV4Auth`` over the headers the client signed.
    """
    auth = headers.get("Authorization", "")
    if not auth:
        return 403, "MissingAuthenticationTokenException", "Missing Authentication Token"
    algorithm, _, rest = auth.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return 403, "IncompleteSignatureException", f"Unsupported AWS 'algorithm': '{algorithm}'"
    fields = dict(p.strip().partition("=")[::2] for p in rest.split(","))
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not fields.get(k)]
    if missing:
        return 403, "IncompleteSignatureException", f"Authorization header requires '{missing[0]}' parameter."
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return (
            403,
            "IncompleteSignatureException",
            "Credential is not of the form key/date/region/service/aws4_request.",
        )
    key_id, day, region, service, _ = scope
    if key_id not in _KNOWN_KEYS:
        return 403, "UnrecognizedClientException", _BAD_TOKEN
    if service != SERVICE:
        return 403, "InvalidSignatureException", f"Credential should be scoped to correct service: '{SERVICE}'."
    amz_date = headers.get("X-Amz-Date", "")
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date):
        return (
            403,
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    if day != amz_date[:8]:
        return 403, "InvalidSignatureException", f"Credential should be scoped to a valid date, not {day}."
    clock = time.time() if now is None else now
    sent = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    if abs(clock - sent) > MAX_SKEW:
        return (
            403,
            "InvalidSignatureException",
            (
                f"Signature expired: {amz_date} is now earlier than {_amz_now(clock - MAX_SKEW)} "
                f"({_amz_now(clock)} - 5 min.)"
            ),
        )
    signed = fields["SignedHeaders"].split(";")
    if "host" not in signed:
        return (
            403,
            "InvalidSignatureException",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        )
    secret, token = _KNOWN_KEYS[key_id]
    sent_token = headers.get("X-Amz-Security-Token")
    if token is not None and (sent_token != token or "x-amz-security-token" not in signed):
        return 403, "UnrecognizedClientException", _BAD_TOKEN
    if token is None and sent_token:
        return 403, "UnrecognizedClientException", _BAD_TOKEN
    content_hash = headers.get("X-Amz-Content-SHA256")
    if content_hash and content_hash != hashlib.sha256(body).hexdigest():
        return (
            400,
            "ValidationException",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    absent = [h for h in signed if h not in headers]
    if absent:
        return 403, "InvalidSignatureException", _MISMATCH
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError:
        return (
            500,
            "InternalServerException",
            "the fake server checks SigV4 with botocore: pip install 'volley-llm[bedrock]'",
        )
    request = AWSRequest(method=method, url=url, headers={h: headers[h] for h in signed}, data=body)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(key_id, secret, token), service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, fields["Signature"]):
        return 403, "InvalidSignatureException", _MISMATCH
    return None


# ---------------------------------------------------------------- Converse request validation

_BLOCKS = {
    "text", "image", "document", "video", "audio", "toolUse", "toolResult", "guardContent", "cachePoint",
    "reasoningContent", "citationsContent", "searchResult",
}  # fmt: skip
_SYSTEM_BLOCKS = {"text", "guardContent", "cachePoint"}
_RESULT_BLOCKS = {"json", "text", "image", "document", "video", "searchResult"}
_REQUEST = {
    "messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig", "additionalModelRequestFields",
    "promptVariables", "additionalModelResponseFieldPaths", "requestMetadata", "performanceConfig",
    "serviceTier", "outputConfig",
}  # fmt: skip
_INFERENCE = {"maxTokens", "temperature", "topP", "stopSequences"}
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_.:-]{1,64}")
_VERSION = re.compile(r"(bedrock-)?\d{4}-\d{2}-\d{2}")


def _invalid(where: str, constraint: str) -> BadRequest:
    return BadRequest(f"1 validation error detected: Value at '{where}' failed to satisfy constraint: {constraint}")


def _one_member(block: Any, where: str, allowed: set[str]) -> tuple[str, Any]:
    if not isinstance(block, dict) or len(block) != 1:
        raise BadRequest(
            f"Malformed input request: {where} must set exactly one member of the union, please try again."
        )
    ((key, value),) = block.items()
    if key not in allowed:
        raise BadRequest(f"Malformed input request: {where}: unknown member '{key}', please try again.")
    return key, value


def _check_base64(value: Any, where: str) -> None:
    if not isinstance(value, str) or not value:
        raise _invalid(where, "Member must be base64-encoded bytes")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(where, "Member must be base64-encoded bytes") from None


def _check_text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _invalid(where, "Member must be a string")
    if not value.strip():
        raise BadRequest(
            f"The text field in the ContentBlock object at {where} is blank. Add text to the text field, and try again."
        )
    return value


def _check_image(value: Any, where: str) -> None:
    if not isinstance(value, dict) or value.get("format") not in ("png", "jpeg", "gif", "webp"):
        raise _invalid(f"{where}.format", "Member must satisfy enum value set: [png, jpeg, gif, webp]")
    kind, source = _one_member(value.get("source"), f"{where}.source", {"bytes", "s3Location"})
    if kind == "bytes":
        _check_base64(source, f"{where}.source.bytes")
    elif not isinstance(source, dict) or not str(source.get("uri", "")).startswith("s3://"):
        raise _invalid(f"{where}.source.s3Location.uri", "Member must be an s3:// URI")


def _check_block(block: Any, where: str, role: str) -> tuple[str, Any]:
    kind, value = _one_member(block, where, _BLOCKS)
    if kind == "text":
        _check_text(value, f"{where}.text")
    elif kind == "image":
        _check_image(value, f"{where}.image")
    elif kind == "toolUse":
        if role != "assistant":
            raise BadRequest(f"Malformed input request: toolUse at {where} is only allowed in an assistant message.")
        if not isinstance(value, dict) or not _TOOL_USE_ID.fullmatch(str(value.get("toolUseId", ""))):
            raise _invalid(
                f"{where}.toolUse.toolUseId", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.:-]+"
            )
        if not _NAME.fullmatch(str(value.get("name", ""))):
            raise _invalid(f"{where}.toolUse.name", "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+")
        if "input" not in value:
            raise _invalid(f"{where}.toolUse.input", "Member must not be null")
    elif kind == "toolResult":
        if role != "user":
            raise BadRequest(f"Malformed input request: toolResult at {where} is only allowed in a user message.")
        if not isinstance(value, dict) or not _TOOL_USE_ID.fullmatch(str(value.get("toolUseId", ""))):
            raise _invalid(
                f"{where}.toolResult.toolUseId", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.:-]+"
            )
        content = value.get("content")
        if not isinstance(content, list):
            raise _invalid(f"{where}.toolResult.content", "Member must not be null")
        for j, part in enumerate(content):
            sub, inner = _one_member(part, f"{where}.toolResult.content.{j}", _RESULT_BLOCKS)
            if sub == "text" and not isinstance(inner, str):
                raise _invalid(f"{where}.toolResult.content.{j}.text", "Member must be a string")
            if sub == "image":
                _check_image(inner, f"{where}.toolResult.content.{j}.image")
        if value.get("status") not in (None, "success", "error"):
            raise _invalid(f"{where}.toolResult.status", "Member must satisfy enum value set: [success, error]")
    elif kind == "reasoningContent":
        sub, inner = _one_member(value, f"{where}.reasoningContent", {"reasoningText", "redactedContent"})
        if sub == "redactedContent":
            _check_base64(inner, f"{where}.reasoningContent.redactedContent")
        elif not isinstance(inner, dict) or not isinstance(inner.get("text"), str):
            raise _invalid(f"{where}.reasoningContent.reasoningText.text", "Member must not be null")
    elif kind == "cachePoint" and (not isinstance(value, dict) or value.get("type") != "default"):
        raise _invalid(f"{where}.cachePoint.type", "Member must satisfy enum value set: [default]")
    return kind, value


def _number(value: Any, where: str, lo: float, hi: float | None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid(where, "Member must be a number")
    if value < lo or (hi is not None and value > hi):
        bound = f"less than or equal to {hi:g}" if hi is not None and value > hi else f"greater than or equal to {lo:g}"
        raise _invalid(where, f"Member must have value {bound}")


def _check_inference(config: Any) -> tuple[int | None, list[str]]:
    if not isinstance(config, dict):
        raise _invalid("inferenceConfig", "Member must be a structure")
    unknown = set(config) - _INFERENCE
    if unknown:
        raise BadRequest(
            f"Malformed input request: inferenceConfig: unknown field '{sorted(unknown)[0]}', please try again."
        )
    max_tokens = config.get("maxTokens")
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise _invalid("inferenceConfig.maxTokens", "Member must be an integer")
        _number(max_tokens, "inferenceConfig.maxTokens", 1, None)
    for key in ("temperature", "topP"):
        if config.get(key) is not None:
            _number(config[key], f"inferenceConfig.{key}", 0, 1)
    stops = config.get("stopSequences") or []
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise _invalid("inferenceConfig.stopSequences", "Member must be a list of non-empty strings")
    return max_tokens, stops


def _check_tool_config(config: Any) -> None:
    if not isinstance(config, dict) or not isinstance(config.get("tools"), list) or not config["tools"]:
        raise _invalid("toolConfig.tools", "Member must have length greater than or equal to 1")
    names = set()
    for i, tool in enumerate(config["tools"]):
        kind, value = _one_member(tool, f"toolConfig.tools.{i}", {"toolSpec", "systemTool", "cachePoint"})
        if kind == "toolSpec":
            if not isinstance(value, dict) or not _NAME.fullmatch(str(value.get("name", ""))):
                raise _invalid(
                    f"toolConfig.tools.{i}.member.toolSpec.name",
                    "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+",
                )
            schema = value.get("inputSchema")
            if not isinstance(schema, dict) or not isinstance(schema.get("json"), dict):
                raise _invalid(f"toolConfig.tools.{i}.member.toolSpec.inputSchema", "Member must not be null")
            if value["name"] in names:
                raise BadRequest(f"The tool name {value['name']} is duplicated. Tool names must be unique.")
            names.add(value["name"])
    choice = config.get("toolChoice")
    if choice is not None:
        kind, value = _one_member(choice, "toolConfig.toolChoice", {"auto", "any", "tool"})
        if kind == "tool" and (not isinstance(value, dict) or value.get("name") not in names):
            raise BadRequest("The tool named in toolChoice is not one of the tools in toolConfig.")


def read_converse(body: Any, model: str) -> Prompt:
    """The ``Prompt`` of a Converse request body, checked as Bedrock checks it; raises ``BadRequest``."""
    if not isinstance(body, dict):
        raise BadRequest("Malformed input request: the request body is not a JSON object, please try again.")
    unknown = set(body) - _REQUEST
    if unknown:
        raise BadRequest(f"Malformed input request: unknown field '{sorted(unknown)[0]}', please try again.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages", "Member must not be null")
    words, last = 0, ""
    for i, block in enumerate(body.get("system") or []):
        kind, value = _one_member(block, f"system.{i}", _SYSTEM_BLOCKS)
        if kind == "text":
            words += word_count(_check_text(value, f"system.{i}.text"))
    uses_tools = False
    pending: set[str] = set()  # toolUse ids of the previous assistant turn
    previous = None
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            raise _invalid(f"messages.{i}.member.role", "Member must satisfy enum value set: [user, assistant]")
        if set(msg) - {"role", "content"}:
            raise BadRequest(f"Malformed input request: messages.{i}: unknown field, please try again.")
        role, content = msg["role"], msg.get("content")
        if i == 0 and role != "user":
            raise BadRequest(
                "A conversation must start with a user message. Try again with a conversation that starts with a "
                "user message."
            )
        if role == previous:
            raise BadRequest(
                "A conversation must alternate between user and assistant roles. Make sure the conversation "
                "alternates between user and assistant roles and try again."
            )
        previous = role
        if not isinstance(content, list) or not content:
            raise _invalid(f"messages.{i}.member.content", "Member must have length greater than or equal to 1")
        texts, uses, results = [], set(), set()
        for j, block in enumerate(content):
            kind, value = _check_block(block, f"messages.{i}.content.{j}", role)
            if kind == "text":
                texts.append(value)
            elif kind == "toolUse":
                uses.add(value["toolUseId"])
            elif kind == "toolResult":
                results.add(value["toolUseId"])
                texts.extend(
                    p["text"] for p in value["content"] if isinstance(p, dict) and isinstance(p.get("text"), str)
                )
        uses_tools = uses_tools or bool(uses or results)
        if role == "user":
            if results - pending:
                raise BadRequest(
                    f"The toolResult blocks at messages.{i}.content reference toolUse ids that are not in the "
                    f"previous assistant message: {', '.join(sorted(results - pending))}"
                )
            if pending - results:
                raise BadRequest(
                    f"Expected toolResult blocks at messages.{i}.content for the following Ids: "
                    f"{', '.join(sorted(pending - results))}"
                )
            last = " ".join(texts)
        pending = uses if role == "assistant" else set()
        words += word_count(" ".join(texts))
    if uses_tools and "toolConfig" not in body:
        raise BadRequest("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
    if "toolConfig" in body:
        _check_tool_config(body["toolConfig"])
    max_tokens, stops = _check_inference(body.get("inferenceConfig") or {})
    extra = body.get("additionalModelRequestFields")
    if extra is not None and not isinstance(extra, dict):
        raise _invalid("additionalModelRequestFields", "Member must be a JSON object")
    text_format = (body.get("outputConfig") or {}).get("textFormat")
    if text_format is not None:
        schema = ((text_format.get("structure") or {}).get("jsonSchema") or {}).get("schema")
        try:
            json.loads(schema)  # type: ignore[arg-type]  # None or a non-string is the error checked here
        except (TypeError, ValueError):
            raise _invalid(
                "outputConfig.textFormat.structure.jsonSchema.schema", "Member must be a JSON schema string"
            ) from None
    return Prompt(model=model, last_user=last, words=words, max_tokens=max_tokens, stop=stops, stream=False)


# ---------------------------------------------------------------- wires


class BedrockWire(Wire):
    """``POST /model/{modelId}/converse`` and ``/converse-stream`` (event-stream answer)."""

    name = "bedrock"
    stream_content_type = "application/vnd.amazon.eventstream"
    _finish = {"stop": "end_turn", "stop_sequence": "stop_sequence", "length": "max_tokens", "tool": "tool_use"}
    _kinds = {
        400: "ValidationException",
        401: "UnrecognizedClientException",  # AWS answers a bad credential with this type (and a 403)
        403: "AccessDeniedException",
        404: "ResourceNotFoundException",
        408: "ModelTimeoutException",
        424: "ModelErrorException",
        429: "ThrottlingException",
        500: "InternalServerException",
        503: "ServiceUnavailableException",
    }

    def auth_error(self, headers: Any, query: Any, api_key: str | None) -> tuple[int, str] | None:
        return None  # the whole request is needed: see check_auth

    def check_auth(
        self, method: str, url: str, headers: Any, query: Any, body: bytes, api_key: str | None
    ) -> tuple[int, str, str | None] | None:
        auth = headers.get("Authorization", "")
        if auth.startswith("Bearer "):  # a Bedrock API key
            token = auth[7:].strip()
            if not token or (api_key is not None and token != api_key):
                return 403, _BAD_TOKEN, "UnrecognizedClientException"
            return None
        denied = sigv4_error(method, url, headers, body)
        return None if denied is None else (denied[0], denied[2], denied[1])

    def kind(self, status: int) -> str:
        return self._kinds.get(status, "InternalServerException" if status >= 500 else "ValidationException")

    def error_headers(self, status: int, kind: str | None = None) -> dict[str, str]:
        return {"x-amzn-ErrorType": (kind or self.kind(status)) + _TYPE_SUFFIX, "x-amzn-RequestId": str(uuid.uuid4())}

    def error_body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        return {"message": message}

    def read(self, body: Any, model: str | None) -> Prompt:
        return read_converse(body, model or "")

    # -------------------------------------------------------- answers

    @staticmethod
    def _usage(a: Answer) -> dict[str, int]:
        return {
            "inputTokens": a.prompt_tokens,
            "outputTokens": a.completion_tokens,
            "totalTokens": a.prompt_tokens + a.completion_tokens,
        }

    @staticmethod
    def _tool_id(t: Any) -> str:
        return "tooluse_" + str(t.id)

    def body(self, a: Answer) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if a.text or not a.tools:
            content.append({"text": a.text or ""})
        content.extend({"toolUse": {"toolUseId": self._tool_id(t), "name": t.name, "input": t.args}} for t in a.tools)
        return {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": self._finish[a.finish],
            "usage": self._usage(a),
            "metrics": {"latencyMs": 1},
        }

    def frame(self, event: str, payload: dict[str, Any]) -> bytes:
        """One event message; like Bedrock, the payload carries a ``p`` padding field."""
        padded = {
            **payload,
            "p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[: 1 + len(event) * 2],
        }
        headers = {":event-type": event, ":content-type": "application/json", ":message-type": "event"}
        return encode_message(headers, dumps(padded))

    def stream_events(self, a: Answer) -> tuple[list[tuple[str, dict[str, Any]]], int]:
        """The stream as ``(event type, payload)`` pairs, and the index of ``messageStop``."""
        out: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
        index = 0
        if a.text or not a.tools:
            for piece in pieces(a.text or "") or [""]:
                out.append(("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}))
            out.append(("contentBlockStop", {"contentBlockIndex": 0}))
            index = 1
        for t in a.tools:
            start = {"toolUse": {"toolUseId": self._tool_id(t), "name": t.name}}
            out.append(("contentBlockStart", {"contentBlockIndex": index, "start": start}))
            for fragment in thirds(t.json):
                delta = {"toolUse": {"input": fragment}}
                out.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
            out.append(("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        closing = len(out)
        out.append(("messageStop", {"stopReason": self._finish[a.finish]}))
        out.append(("metadata", {"usage": self._usage(a), "metrics": {"latencyMs": 1}}))
        return out, closing

    def events(self, a: Answer) -> tuple[list[bytes], int]:
        events, closing = self.stream_events(a)
        return [self.frame(name, payload) for name, payload in events], closing

    def error_event(self, message: str) -> bytes:
        headers = {
            ":exception-type": "modelStreamErrorException",
            ":content-type": "application/json",
            ":message-type": "exception",
        }
        return encode_message(
            headers, dumps({"message": message, "originalStatusCode": 529, "originalMessage": message})
        )

    def malformed_event(self) -> bytes:
        headers = {":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"}
        return encode_message(headers, b'{"contentBlockIndex":0,"delta":{"text":"oo')


class BedrockInvokeWire(BedrockWire):
    """``POST /model/{modelId}/invoke`` and ``/invoke-with-response-stream`` with Anthropic Messages bodies
    (an ``anthropic_version``, ``bedrock-2023-05-31`` as documented or a dated version as recent
    Anthropic SDKs send; no ``model`` or ``stream`` key); the stream's ``chunk`` events carry each
    Anthropic event as base64 ``bytes``."""

    name = "bedrock_invoke"
    _anthropic = AnthropicWire()

    def read(self, body: Any, model: str | None) -> Prompt:
        if not isinstance(body, dict):
            raise BadRequest("Malformed input request: the request body is not a JSON object, please try again.")
        for key in ("model", "stream"):
            if key in body:
                raise BadRequest(
                    f"Malformed input request: #: extraneous key [{key}] is not permitted, please reformat your "
                    "input and try again."
                )
        if "anthropic_version" not in body:
            raise BadRequest(
                "Malformed input request: #: required key [anthropic_version] not found, please reformat your "
                "input and try again."
            )
        if not isinstance(body["anthropic_version"], str) or not _VERSION.fullmatch(body["anthropic_version"]):
            raise BadRequest(f"Invalid API version: anthropic_version {body['anthropic_version']!r}")
        prompt = self._anthropic.read({**body, "model": model or ""}, model)
        prompt.stream = False  # decided by the path
        return prompt

    def body(self, a: Answer) -> dict[str, Any]:
        return self._anthropic.body(a)

    def events(self, a: Answer) -> tuple[list[bytes], int]:
        events, closing = self._anthropic.stream_events(a)
        out = []
        for i, (_, data) in enumerate(events):
            if i == len(events) - 1:  # Bedrock adds its invocation metrics to the last event
                data = {
                    **data,
                    "amazon-bedrock-invocationMetrics": {
                        "inputTokenCount": a.prompt_tokens,
                        "outputTokenCount": a.completion_tokens,
                        "invocationLatency": 1,
                        "firstByteLatency": 1,
                    },
                }
            out.append(self.frame("chunk", {"bytes": base64.b64encode(dumps(data)).decode()}))
        return out, closing

    def malformed_event(self) -> bytes:
        headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
        return encode_message(
            headers, dumps({"bytes": base64.b64encode(b'{"type":"content_block_delta","ind').decode()})
        )
