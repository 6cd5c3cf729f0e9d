"""AWS authentication for Bedrock: SigV4 signing per attempt, or a Bedrock API key (bearer token).

Signing and the credential chain are botocore's (``pip install 'volley-llm[bedrock]'``), imported
only when an AWS request is built: environment variables, shared credentials and config files
(profiles), SSO, assumed roles, container and instance metadata, exactly as boto3 resolves them.

Parameters, named as LiteLLM names them: ``aws_access_key_id``, ``aws_secret_access_key``,
``aws_session_token``, ``aws_profile_name``, ``aws_region_name``; ``api_key`` (or the environment's
``AWS_BEARER_TOKEN_BEDROCK``) is a Bedrock API key. Region: ``aws_region_name``, then ``AWS_REGION``,
``AWS_DEFAULT_REGION``, then the profile's configured region.

Example::

    auth = bedrock_auth({"aws_region_name": "us-east-1"})   # SigV4 from the usual chain
    await auth.prepare()                                     # resolve credentials off the event loop
    extra = auth.headers("POST", url, {"Content-Type": "application/json"}, body)

Credentials never appear in a repr, a log or an error message.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from typing import Any

from ..errors import AuthenticationError, BadRequestError, redact

__all__ = ["AWS_PARAMS", "AWSSigner", "BearerToken", "bedrock_auth", "region_of"]

SERVICE = "bedrock"
"""The SigV4 signing name of Bedrock Runtime (its endpoint prefix is ``bedrock-runtime``)."""
INSTALL_HINT = "pip install 'volley-llm[bedrock]'"
AWS_PARAMS = frozenset(
    {"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_profile_name", "aws_region_name"}
)
"""The per-call AWS options (LiteLLM's names)."""

ADVISORY_REFRESH = 15 * 60
"""Seconds before expiry at which refreshable credentials (SSO, roles) are renewed in a thread."""
_SIGNED_BY_US = ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")


def _missing_botocore() -> Exception:
    from ..errors import MissingExtraError

    return MissingExtraError(f"AWS Bedrock needs botocore: {INSTALL_HINT}", provider="bedrock")


def region_of(params: Mapping[str, Any], environ: Mapping[str, str] | None = None, profile: str | None = None) -> str:
    """The AWS region: ``aws_region_name``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's region
    (read from the AWS config files by botocore, when it is installed).

    Raises ``BadRequestError`` naming what to set when none is found.
    """
    env = os.environ if environ is None else environ
    region = params.get("aws_region_name") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        try:
            import botocore.session

            session = botocore.session.Session(profile=profile) if profile else botocore.session.Session()
            region = session.get_config_variable("region")
        except Exception:  # no botocore, an unknown profile, a broken config file: say what to set below
            region = None
    if not region or not isinstance(region, str):
        raise BadRequestError(
            "no AWS region: pass aws_region_name=... or set AWS_REGION (or AWS_DEFAULT_REGION, or a region "
            "in your AWS profile)",
            provider="bedrock",
        )
    return region


class BearerToken:
    """A Bedrock API key, sent as ``Authorization: Bearer <key>``.

    Example: ``BearerToken("ABSK...", region="us-east-1").headers("POST", url, {}, b"{}")``
    """

    kind = "bearer"

    def __init__(self, token: str, *, region: str) -> None:
        if not token or not isinstance(token, str):
            raise BadRequestError("the Bedrock API key is empty", provider="bedrock")
        self.region = region
        self._token = token

    def __repr__(self) -> str:
        return f"BearerToken(region={self.region!r})"

    async def prepare(self) -> None:
        """Nothing to resolve (kept for one interface with :class:`AWSSigner`)."""

    def secrets(self) -> tuple[str, ...]:
        return (self._token,)

    def headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}


class AWSSigner:
    """SigV4 signing with botocore, fresh (new ``X-Amz-Date``, current credentials) on every call.

    ``headers(method, url, headers, body)`` returns the headers to add: ``Authorization``,
    ``X-Amz-Date`` and, with temporary credentials, ``X-Amz-Security-Token``. The signature covers
    the method, the URL exactly as given (send that same string, unre-encoded), every header passed
    in (besides those HTTP hops may change) and the body bytes, so send exactly those.

    Credentials come from the explicit keys, else a named profile, else botocore's default chain.
    Refreshable ones (SSO, assumed roles) are renewed in a background thread once they are within
    :data:`ADVISORY_REFRESH` seconds of expiry; the event loop only blocks if they have expired.

    Example::

        signer = AWSSigner(region="eu-west-1", access_key_id="AKIA...", secret_access_key="...")
        extra = signer.headers("POST", "https://bedrock-runtime.eu-west-1.amazonaws.com/model/m/converse",
                               {"Content-Type": "application/json"}, b"{}")
    """

    kind = "sigv4"

    def __init__(
        self,
        *,
        region: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        profile: str | None = None,
        service: str = SERVICE,
    ) -> None:
        if bool(access_key_id) != bool(secret_access_key):
            missing = "aws_secret_access_key" if access_key_id else "aws_access_key_id"
            raise BadRequestError(f"AWS credentials are incomplete: {missing} is missing", provider="bedrock")
        self.region = region
        self.service = service
        self.profile = profile
        self._explicit = (access_key_id, secret_access_key, session_token) if access_key_id else None
        self._credentials: Any = None  # botocore Credentials (possibly refreshable)
        self._frozen: Any = None  # botocore ReadOnlyCredentials used to sign
        self._lock = threading.Lock()
        self._refreshing = False
        self.identity = _identity(access_key_id, profile)

    def __repr__(self) -> str:
        source = getattr(self._credentials, "method", None) or ("explicit" if self._explicit else "unresolved")
        return f"AWSSigner(region={self.region!r}, service={self.service!r}, source={source!r})"

    # ------------------------------------------------------------ credentials

    def secrets(self) -> tuple[str, ...]:
        """The secret parts of the credentials in use, for scrubbing from error text."""
        frozen = self._frozen
        if frozen is not None:
            return tuple(s for s in (frozen.secret_key, frozen.token) if s)
        if self._explicit:
            return tuple(s for s in self._explicit[1:] if s)
        return ()

    def resolve(self) -> None:
        """Find the credentials now (blocking: the chain may read files or call AWS). Idempotent.

        Raises ``AuthenticationError`` when there are none, naming the ways to provide them.
        """
        with self._lock:
            if self._credentials is None:
                self._credentials = self._load()
            self._frozen = self._freeze(self._credentials)

    async def prepare(self) -> None:
        """:meth:`resolve` in a worker thread, so the first request does not block the event loop."""
        if self._frozen is None:
            await asyncio.to_thread(self.resolve)

    def _load(self) -> Any:
        try:
            import botocore.credentials
            import botocore.session
        except ImportError:
            raise _missing_botocore() from None
        if self._explicit:
            key, secret, token = self._explicit
            return botocore.credentials.Credentials(key, secret, token, method="explicit")
        try:
            session = botocore.session.Session(profile=self.profile) if self.profile else botocore.session.Session()
            credentials = session.get_credentials()
        except Exception as exc:  # ProfileNotFound, SSO token errors, a malformed config file ...
            raise AuthenticationError(
                f"AWS credentials could not be loaded: {type(exc).__name__}: {exc}", provider="bedrock"
            ) from None
        if credentials is None:
            raise AuthenticationError(
                "no AWS credentials found: pass aws_access_key_id and aws_secret_access_key, set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name a profile (aws_profile_name or AWS_PROFILE), "
                "or use a Bedrock API key (api_key or AWS_BEARER_TOKEN_BEDROCK)",
                provider="bedrock",
            )
        return credentials

    def _freeze(self, credentials: Any) -> Any:
        try:
            frozen = credentials.get_frozen_credentials()
        except Exception as exc:  # a refresh that failed (expired SSO session, role denied ...)
            raise AuthenticationError(
                f"AWS credentials could not be refreshed: {type(exc).__name__}: {redact(str(exc), self.secrets())}",
                provider="bedrock",
            ) from None
        if not frozen.access_key or not frozen.secret_key:
            raise AuthenticationError("the AWS credentials found are incomplete", provider="bedrock")
        return frozen

    def _current(self) -> Any:
        """The credentials to sign with now; starts a background refresh when expiry is near."""
        if self._frozen is None:
            self.resolve()
        credentials = self._credentials
        needs = getattr(credentials, "refresh_needed", None)
        if needs is not None and needs(0):  # already expired: nothing valid to sign with, refresh in place
            self.resolve()
        frozen = self._frozen
        if needs is not None and needs(ADVISORY_REFRESH) and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._refresh_in_background, name="volley-aws-refresh", daemon=True).start()
        return frozen

    def _refresh_in_background(self) -> None:
        try:
            self.resolve()
        except Exception:  # keep signing with the current credentials; the next expiry check retries
            pass
        finally:
            self._refreshing = False

    # ------------------------------------------------------------ signing

    def headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> dict[str, str]:
        """The SigV4 headers for this exact request, signed now.

        ``headers`` are the ones that will be sent (an ``Authorization`` or ``X-Amz-*`` header among
        them is replaced). Example: see the class docstring.
        """
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        frozen = self._current()
        base = {k: v for k, v in headers.items() if k.lower() not in _SIGNED_BY_US}
        request = AWSRequest(method=method.upper(), url=url, headers=base, data=body or b"")
        SigV4Auth(frozen, self.service, self.region).add_auth(request)
        return {k: v for k, v in request.headers.items() if k.lower() in _SIGNED_BY_US}


def _identity(access_key_id: str | None, profile: str | None) -> str | None:
    """Who a signer signs as, known without resolving anything: the access key id (explicit, else the
    environment's, which botocore's chain tries first), else the profile's name; None for the rest of the
    chain (SSO, roles, instance metadata), whose account is only known once resolved."""
    if access_key_id:
        return "aws-key:" + access_key_id
    if profile:
        return "aws-profile:" + profile
    env_key = os.environ.get("AWS_ACCESS_KEY_ID")
    if env_key and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        return "aws-key:" + env_key
    env_profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE")
    return "aws-profile:" + env_profile if env_profile else None


def bedrock_auth(params: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> AWSSigner | BearerToken:
    """The authentication a Bedrock call uses, from its params and the environment.

    Precedence: an explicit ``api_key`` (a Bedrock API key); explicit ``aws_access_key_id`` /
    ``aws_secret_access_key``; an explicit ``aws_profile_name``; ``AWS_BEARER_TOKEN_BEDROCK``; then
    botocore's default chain (``AWS_ACCESS_KEY_ID`` ..., ``AWS_PROFILE``, SSO, roles, metadata).

    Example: ``bedrock_auth({"aws_region_name": "us-west-2", "aws_profile_name": "dev"})``
    """
    env = os.environ if environ is None else environ
    profile = params.get("aws_profile_name") or None
    region = region_of(params, env, profile)
    if params.get("api_key"):
        return BearerToken(str(params["api_key"]), region=region)
    if params.get("aws_access_key_id") or params.get("aws_secret_access_key"):
        return AWSSigner(
            region=region,
            access_key_id=params.get("aws_access_key_id"),
            secret_access_key=params.get("aws_secret_access_key"),
            session_token=params.get("aws_session_token"),
        )
    if profile:
        return AWSSigner(region=region, profile=profile)
    if env.get("AWS_BEARER_TOKEN_BEDROCK"):
        return BearerToken(env["AWS_BEARER_TOKEN_BEDROCK"], region=region)
    return AWSSigner(region=region)
