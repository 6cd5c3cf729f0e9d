"""Token sources (volley.auth.tokens) and Azure credential resolution (volley.auth.azure).

The refresh logic runs with a movable clock; Azure credentials are azure-core ``AccessToken`` producers
(the protocol azure-identity's credentials implement) and azure-identity's own bearer-token provider.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

from volley.auth import azure as az
from volley.auth.tokens import BearerAuth, CallableToken, RefreshingToken, StaticToken
from volley.errors import APIConnectionError, AuthenticationError, BadRequestError


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Counting(RefreshingToken):
    """Tokens ``t1``, ``t2`` ... valid ``lifetime`` seconds (by the clock), fetched after ``delay`` seconds."""

    what = "test token"

    def __init__(self, lifetime: float = 3600.0, delay: float = 0.0, fail: BaseException | None = None, **kw: Any):
        super().__init__(**kw)
        self.lifetime, self.delay, self.fail = lifetime, delay, fail
        self.fetches = 0
        self.threads: set[int] = set()

    def _fetch(self) -> tuple[str, float | None]:
        self.threads.add(threading.get_ident())
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        self.fetches += 1
        return f"t{self.fetches}", time.time() + self.lifetime  # wall clock, as identity libraries give it


def wait_for(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# ------------------------------------------------------------------------------------------ static, callable


def test_static_token_is_used_as_is_and_never_shown():
    src = StaticToken("secret-token-123", what="azure_ad_token")
    assert src.token() == "secret-token-123"
    assert src.secrets() == ("secret-token-123",)
    assert "secret" not in repr(src) and "secret" not in repr(BearerAuth(src))
    with pytest.raises(AuthenticationError, match="azure_ad_token must be a non-empty string"):
        StaticToken("  ", what="azure_ad_token")


async def test_callable_token_runs_a_sync_provider_in_a_thread_before_each_attempt():
    calls: list[int] = []

    def provider() -> str:
        calls.append(threading.get_ident())
        return f"tok-{len(calls)}"

    src = CallableToken(provider, what="azure_ad_token_provider", reuse_for=0)
    await src.prepare()
    assert src.token() == "tok-1"
    await src.prepare()
    assert src.token() == "tok-2"
    assert threading.get_ident() not in calls  # never on the event loop's thread


async def test_callable_token_is_asked_again_once_its_answer_is_reuse_for_old():
    clock = Clock()
    answers = iter(["a", "b"])
    src = CallableToken(lambda: next(answers), reuse_for=15.0, now=clock)
    for _ in range(3):
        await src.prepare()
        assert src.token() == "a"
    clock.offset = 16
    assert src.token() == "a"  # the last prepared answer until the next prepare
    await src.prepare()
    assert src.token() == "b" and src.calls == 2


async def test_callable_token_awaits_an_async_provider():
    async def provider() -> str:
        await asyncio.sleep(0)
        return "async-tok"

    src = CallableToken(provider)
    await src.prepare()
    assert BearerAuth(src).headers() == {"Authorization": "Bearer async-tok"}


async def test_callable_token_refuses_bad_answers_and_reports_failures():
    with pytest.raises(AuthenticationError, match="returned NoneType"):
        await CallableToken(lambda: None).prepare()  # type: ignore[arg-type,return-value]

    def broken() -> str:
        raise RuntimeError("identity endpoint said no")

    with pytest.raises(AuthenticationError, match="identity endpoint said no"):
        await CallableToken(broken, what="azure_ad_token_provider").prepare()
    with pytest.raises(AuthenticationError, match="must be a function"):
        CallableToken("not callable")  # type: ignore[arg-type]


def test_callable_token_without_prepare_calls_the_provider_itself():
    assert CallableToken(lambda: "direct").token() == "direct"


# ------------------------------------------------------------------------------------------ refreshing


async def test_refresh_runs_off_the_loop_once_for_many_waiters():
    src = Counting(delay=0.3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(10):
            await asyncio.sleep(0.01)
            ticks += 1

    results = await asyncio.gather(*(src.prepare() for _ in range(50)), ticker())
    assert results[:50] == [None] * 50
    assert src.fetches == 1  # fifty attempts waiting on no token: one request to the identity provider
    assert ticks == 10  # the loop kept running while the refresh slept in its thread
    assert threading.get_ident() not in src.threads
    assert src.token() == "t1"


async def test_token_is_refreshed_in_the_background_before_it_expires():
    clock = Clock()
    src = Counting(lifetime=3600, now=clock, refresh_margin=300, mandatory_margin=60)
    await src.prepare()
    assert src.token() == "t1" and src.fetches == 1
    clock.offset = 3600 - 400  # still outside the refresh margin: nothing happens
    await src.prepare()
    assert src.token() == "t1" and src.fetches == 1
    clock.offset = 3600 - 200  # inside the margin: answered with the current token, one refresh started
    assert src.token() == "t1"
    wait_for(lambda: src.refreshes == 2)
    assert src.token() == "t2"
    assert src.fetches == 2


async def test_an_expired_token_is_never_used_callers_wait_for_a_fresh_one():
    clock = Clock()
    src = Counting(lifetime=3600, now=clock, refresh_margin=300, mandatory_margin=60)
    await src.prepare()
    clock.offset = 3600 - 30  # inside the mandatory margin: t1 is as good as expired
    await src.prepare()
    assert src.token() == "t2"
    clock.offset = 2 * 3600  # long past: token() itself blocks for a fresh one (no prepare)
    assert src.token() == "t3"


async def test_a_short_lived_token_is_not_refreshed_on_every_use():
    clock = Clock()
    src = Counting(lifetime=100, now=clock, refresh_margin=300, mandatory_margin=60)
    await src.prepare()
    for _ in range(5):  # a 100 s token inside a 300 s margin: still used as is until half its life
        assert src.token() == "t1"
    assert src.fetches == 1 and src._pending is None
    clock.offset = 60  # past half: one background refresh
    assert src.token() == "t1"
    wait_for(lambda: src.refreshes == 2)
    clock.offset = 60 + 80  # the new one is in its last quarter: not used, a fresh one is awaited
    await src.prepare()
    assert src.token() == "t3"


async def test_failed_background_refresh_keeps_the_current_token(caplog: pytest.LogCaptureFixture):
    clock = Clock()
    src = Counting(lifetime=3600, now=clock)
    await src.prepare()
    src.fail = RuntimeError("identity provider down")
    clock.offset = 3600 - 200
    with caplog.at_level(logging.WARNING, logger="volley.auth"):
        assert src.token() == "t1"
        wait_for(lambda: src._pending is None and "refresh failed" in caplog.text)
    assert src.token() == "t1"  # still valid for 200 s: used
    clock.offset = 3600 - 10
    with pytest.raises(AuthenticationError, match="identity provider down"):
        await src.prepare()


async def test_a_refresh_that_hangs_is_a_retryable_connection_error():
    src = Counting(delay=3.0, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(APIConnectionError, match=r"no test token within 0\.2 s"):
        await src.prepare()
    assert time.monotonic() - started < 2.5
    with pytest.raises(APIConnectionError):
        src.token()


# ------------------------------------------------------------------------------------------ Entra ID


class FakeCredential:
    """An azure-identity style credential: ``get_token(*scopes)`` → ``azure.core.credentials.AccessToken``."""

    def __init__(self, lifetime: int = 3600, error: BaseException | None = None) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self.lifetime, self.error = lifetime, error

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        if self.error is not None:
            raise self.error
        self.scopes.append(scopes)
        return AccessToken(f"entra-{len(self.scopes)}", int(time.time()) + self.lifetime)


async def test_entra_token_asks_the_credential_for_the_cognitive_services_scope():
    cred = FakeCredential()
    src = az.EntraToken(cred)
    await src.prepare()
    assert src.token() == "entra-1"
    assert cred.scopes == [("https://cognitiveservices.azure.com/.default",)]
    assert src.expires_at is not None and abs(src.expires_at - (time.time() + 3600)) < 60


async def test_entra_token_errors_are_typed():
    from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

    with pytest.raises(AuthenticationError, match=r"cognitiveservices.*ClientAuthenticationError"):
        await az.EntraToken(FakeCredential(error=ClientAuthenticationError("bad secret"))).prepare()
    with pytest.raises(APIConnectionError, match="could not reach Microsoft Entra ID"):
        await az.EntraToken(FakeCredential(error=ServiceRequestError("dns"))).prepare()


def test_async_and_non_credentials_are_refused_before_any_request():
    class AsyncCred:
        async def get_token(self, *scopes: str) -> Any: ...

    with pytest.raises(BadRequestError, match=r"azure.identity.aio"):
        az.azure_auth({"azure_credential": AsyncCred()}, environ={})
    with pytest.raises(BadRequestError, match=r"must be an azure\.identity credential"):
        az.azure_auth({"azure_credential": "a string"}, environ={})


async def test_azure_identity_bearer_token_provider_works_as_azure_ad_token_provider():
    from azure.identity import get_bearer_token_provider

    cred = FakeCredential()
    auth = az.azure_auth({"azure_ad_token_provider": get_bearer_token_provider(cred, az.SCOPE)}, environ={})
    await auth.prepare()
    assert auth.headers() == {"Authorization": "Bearer entra-1"}
    await auth.prepare()
    assert auth.headers() == {"Authorization": "Bearer entra-1"}  # azure-core's policy caches it
    assert len(cred.scopes) == 1


@pytest.mark.parametrize(
    ("options", "api_key", "env", "expect"),
    [
        ({}, "k-explicit", {"AZURE_API_KEY": "k-env"}, {"api-key": "k-explicit"}),
        ({"azure_ad_token": "ad-explicit"}, None, {"AZURE_API_KEY": "k-env"}, {"Authorization": "Bearer ad-explicit"}),
        ({}, None, {"AZURE_API_KEY": "k-env", "AZURE_OPENAI_API_KEY": "k2"}, {"api-key": "k-env"}),
        ({}, None, {"AZURE_OPENAI_API_KEY": "k2"}, {"api-key": "k2"}),
        ({}, None, {"AZURE_OPENAI_AD_TOKEN": "ad-env"}, {"Authorization": "Bearer ad-env"}),
        ({}, None, {"AZURE_OPENAI_API_KEY": "k2", "AZURE_OPENAI_AD_TOKEN": "ad-env"}, {"api-key": "k2"}),
    ],
)
def test_azure_credential_order(options: dict, api_key: str | None, env: dict, expect: dict):
    assert az.azure_auth(options, api_key=api_key, environ=env).headers() == expect


def test_two_explicit_azure_credentials_are_an_error():
    with pytest.raises(BadRequestError, match=r"pass only one of.*api_key, azure_ad_token"):
        az.azure_auth({"azure_ad_token": "t"}, api_key="k", environ={})


def test_no_azure_credential_falls_back_to_default_azure_credential_lazily(monkeypatch: pytest.MonkeyPatch):
    auth = az.azure_auth({}, environ={})
    assert isinstance(auth.source, az.EntraToken) and auth.source._credential is None  # built on first token
    monkeypatch.setattr(az, "identity_installed", lambda: False)
    with pytest.raises(AuthenticationError, match=r"AZURE_API_KEY or AZURE_OPENAI_API_KEY.*volley-llm\[azure\]"):
        az.azure_auth({}, environ={})


def test_azure_auth_never_shows_its_secrets():
    auth = az.azure_auth({}, api_key="key-very-secret", environ={})
    assert "very-secret" not in repr(auth)
    assert auth.secrets() == ("key-very-secret",)
