"""AWS Bedrock (``bedrock/<model id>``): the Converse / ConverseStream API, signed with SigV4 on every attempt.

Models: Bedrock model ids (``anthropic.claude-3-5-haiku-20241022-v1:0``, ``amazon.nova-lite-v1:0``,
``meta.llama3-1-70b-instruct-v1:0``, ``mistral...``), inference profiles (``us.anthropic...``,
``eu.``, ``apac.``, ``global.``) and ARNs; LiteLLM's ``bedrock/converse/<id>`` is the same route. Bare
ids with those prefixes are routed here too. ``bedrock/invoke/...`` (InvokeModel) is refused: volley
speaks Converse, which every chat model on Bedrock takes.

Endpoint: ``api_base``, else ``aws_bedrock_runtime_endpoint``, else ``AWS_BEDROCK_RUNTIME_ENDPOINT`` /
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, else ``https://bedrock-runtime.{region}.amazonaws.com``. Region:
``aws_region_name``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's region.

Credentials (``volley.auth.sigv4``, LiteLLM's names): ``api_key`` or ``AWS_BEARER_TOKEN_BEDROCK`` (a
Bedrock API key, sent as a bearer token; needs no extra), ``aws_access_key_id`` /
``aws_secret_access_key`` / ``aws_session_token``, ``aws_profile_name``, else botocore's credential chain
(environment, profiles, SSO, roles, container and instance metadata). SigV4 needs the ``bedrock`` extra
(``pip install 'volley-llm[bedrock]'``); without it the call is refused before anything is sent. The
chain is resolved once (in a thread) and shared by every call naming the same credentials; each attempt
is signed afresh (a new ``X-Amz-Date``), after its backoff.

Example::

    volley.completion("bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0", messages,
                      aws_region_name="us-west-2", max_tokens=200)
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import masking
from ..auth.reuse import Reuse, fingerprint
from ..auth.sigv4 import AWS_PARAMS, AWSSigner, BearerToken, bedrock_auth, region_of
from ..errors import APIError, BadRequestError
from ._cloud import first_env, http_base, option_str, require
from .base import Provider, key_id

if TYPE_CHECKING:
    from ..routing import Route
    from ..transports.base import Request

__all__ = ["OPTIONS", "BedrockProvider"]

OPTIONS = frozenset({*AWS_PARAMS, "aws_bedrock_runtime_endpoint"})
"""The keyword arguments a Bedrock call takes besides the completion parameters."""
UNSUPPORTED = frozenset(
    {"aws_role_name", "aws_session_name", "aws_web_identity_token", "aws_sts_endpoint", "aws_external_id"}
)
"""LiteLLM's assume-role arguments: refused with the way to get the same from botocore's chain."""
EXAMPLE = "https://bedrock-runtime.us-east-1.amazonaws.com"

_MODEL = re.compile(
    r"^(?:(?:us|eu|apac|global|us-gov|jp|au|ca)\.)?(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek)\.\w"
    r"|^arn:aws(?:-[a-z]+)*:bedrock:"
)
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z0-9]+)+$")  # it becomes part of a host name: nothing else gets in
_SIGNERS: Reuse[AWSSigner | BearerToken] = Reuse()
_CHAIN_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_DISABLED",
    "AWS_BEARER_TOKEN_BEDROCK", "AWS_REGION", "AWS_DEFAULT_REGION",
)  # fmt: skip
"""The environment botocore's credential chain and volley's Bedrock auth read: a change gives a new signer."""


class BedrockProvider(Provider):
    """``bedrock/<model id>``: Converse over HTTPS, SigV4 (or a Bedrock API key) per attempt, event-stream streams."""

    secret_env = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

    def __init__(self) -> None:
        super().__init__(
            "bedrock",
            "bedrock_converse",
            default_base="https://bedrock-runtime.{region}.amazonaws.com",
            key_env=("AWS_BEARER_TOKEN_BEDROCK",),
            base_env=("AWS_BEDROCK_RUNTIME_ENDPOINT", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
            key_required=False,
            framing="aws-eventstream",
            options=OPTIONS | UNSUPPORTED,
        )

    def matches(self, model: str) -> bool:
        """Bedrock model ids, inference profiles and ARNs (``anthropic.claude...``, ``us.amazon.nova...``)."""
        return bool(_MODEL.match(model))

    # ------------------------------------------------------------------ routing

    def base(self, api_base: str | None, options: Mapping[str, Any]) -> str:
        """The endpoint given (argument, option, environment), else the region's Bedrock Runtime endpoint."""
        given = api_base or option_str(options, "aws_bedrock_runtime_endpoint", self.name) or first_env(self.base_env)
        if given:
            return http_base(given, self.name, EXAMPLE)
        return str(self.default_base).format(region=_region(options))

    def key(self, api_key: str | None, model: str) -> str | None:
        """Only an explicit ``api_key`` here: the environment's Bedrock API key is weighed against the other
        credentials in :meth:`bind` (explicit AWS keys or a profile win over it)."""
        return api_key

    def bind(self, route: Route) -> Route:
        """Check the model id and the options, pick the credential (see the module docstring); refuse before
        anything is sent what cannot work (InvokeModel routes, assume-role options, SigV4 without botocore)."""
        if route.model.startswith("invoke/"):
            raise BadRequestError(
                f"bedrock/{route.model}: the InvokeModel API is not supported; volley speaks Bedrock's Converse API, "
                f"which every chat model takes: write bedrock/{route.model.removeprefix('invoke/')}",
                provider=self.name,
                model=route.model,
            )
        self.wire.model_id(route.model)  # type: ignore[attr-defined]  # an empty id is refused here
        refused = sorted(k for k in route.options if k in UNSUPPORTED)
        if refused:
            raise BadRequestError(
                f"{', '.join(refused)}: volley does not assume roles itself; put the role in an AWS profile "
                "(role_arn + source_profile, or web_identity_token_file) and pass aws_profile_name=: botocore's "
                "credential chain assumes it and refreshes it",
                provider=self.name,
            )
        credential = _credential(route.options, route.api_key)
        api_key = route.api_key
        if isinstance(credential, BearerToken):
            api_key = credential.secrets()[0]
        else:
            require("botocore", extra="bedrock", purpose="AWS Bedrock SigV4 signing", provider=self.name)
        return dataclasses.replace(route, api_key=api_key, credential=credential)

    # ------------------------------------------------------------------ requests

    def headers(self, route: Route) -> dict[str, str]:
        return {"Content-Type": "application/json"}

    async def auth(self, request: Request, route: Route) -> dict[str, str]:
        """This attempt's ``Authorization`` (+ ``X-Amz-Date``, ``X-Amz-Security-Token``): signed now, over the
        exact method, URL, headers and body bytes that are sent; or the Bedrock API key as a bearer."""
        credential: AWSSigner | BearerToken = (
            route.credential if route.credential is not None else self.bind(route).credential
        )
        await credential.prepare()
        headers = credential.headers(request.method, request.url, request.headers, request.content)
        masking.register(*credential.secrets())
        return headers

    def account(self, route: Route) -> str | None:
        """The Bedrock API key's id, or the signer's access key id / profile (None for the rest of the chain)."""
        if route.api_key or route.credential is None:
            return key_id(route.api_key)
        identity = getattr(route.credential, "identity", None)
        return fingerprint(self.name, identity)[:16] if identity else None

    # ------------------------------------------------------------------ answers

    def error(self, status: int, headers: Mapping[str, str], body: bytes, route: Route) -> APIError:
        """The AWS error type (``x-amzn-ErrorType``) decides the class: a ``ThrottlingException`` is a
        ``RateLimitError`` whatever the status."""
        from ..protocols import bedrock_converse as converse  # loaded with the first Bedrock call, not before

        err = converse.error_from_response(status, headers, body, model=route.model, secrets=self.secrets(route))
        err.provider = route.provider
        return err


def _region(options: Mapping[str, Any]) -> str:
    region = option_str(options, "aws_region_name", "bedrock")
    profile = option_str(options, "aws_profile_name", "bedrock")
    try:
        region = region_of({**options, "aws_region_name": region}, profile=profile)
    except BadRequestError as exc:
        try:
            require("botocore", extra="bedrock", purpose="reading the region of an AWS profile", provider="bedrock")
        except APIError as missing:
            raise BadRequestError(f"{exc.message} ({missing.message})", provider="bedrock") from None
        raise
    if not _REGION.match(region):
        raise BadRequestError(f"aws_region_name {region!r} is not an AWS region (e.g. us-east-1)", provider="bedrock")
    return region


def _credential(options: Mapping[str, Any], api_key: str | None) -> AWSSigner | BearerToken:
    """The route's signer or bearer token, shared with every route that names the same credentials (the
    options, the region, and the environment botocore's chain reads, :data:`_CHAIN_ENV`)."""
    region = _region(options)
    params = {k: options.get(k) for k in sorted(AWS_PARAMS)}
    params["aws_region_name"] = region
    for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_profile_name"):
        if params.get(name) is not None and not isinstance(params[name], str):
            raise BadRequestError(f"{name} must be a string; got {type(params[name]).__name__}", provider="bedrock")
    env = os.environ
    key = fingerprint(api_key, *(f"{k}={v}" for k, v in params.items()), *(env.get(k) for k in _CHAIN_ENV))
    return _SIGNERS.get(key, lambda: bedrock_auth({**params, "api_key": api_key}))
