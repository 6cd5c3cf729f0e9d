"""Google OAuth for Vertex AI (volley.auth.google) with real google-auth, offline.

A throwaway service-account key signs real JWT grants (google-auth's own code) that a token endpoint on
127.0.0.1 verifies; the refresh-before-expiry logic is driven by moving volley's clock.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cloud_fakes import TokenServer, service_account_info
from volley.auth.google import GoogleToken, google_token, load_credentials
from volley.auth.tokens import StaticToken
from volley.errors import APIConnectionError, AuthenticationError, BadRequestError


@pytest.fixture
def token_server():
    with TokenServer() as server:
        yield server


def wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


async def test_service_account_dict_json_and_file_load_with_their_project(token_server: TokenServer, tmp_path: Path):
    info = service_account_info(token_server, project="proj-from-key")
    path = tmp_path / "key.json"
    path.write_text(json.dumps(info))
    for value in (info, json.dumps(info), str(path), path):
        creds, project = load_credentials(value)
        assert project == "proj-from-key"
        assert creds.service_account_email == info["client_email"]
    source, project = google_token(str(path))
    await source.prepare()
    assert source.token() == "ya29.fake-1"
    grant = token_server.grants[0]
    assert grant["iss"] == info["client_email"]
    assert grant["scope"] == "https://www.googleapis.com/auth/cloud-platform"


async def test_google_token_refreshes_before_expiry_with_real_google_auth(token_server: TokenServer):
    info = service_account_info(token_server)
    creds, _ = load_credentials(info)
    offset = 0.0
    source = GoogleToken(creds, now=lambda: time.time() + offset)
    await source.prepare()
    assert source.token() == "ya29.fake-1"
    assert abs(source.expires_at - (time.time() + 3600)) < 60  # google-auth's expiry, from expires_in
    offset = 3600 - 400
    await source.prepare()
    assert source.token() == "ya29.fake-1" and len(token_server.grants) == 1
    offset = 3600 - 200  # within five minutes of expiry: a background refresh, the current token meanwhile
    assert source.token() == "ya29.fake-1"
    wait_for(lambda: source.refreshes == 2)
    assert source.token() == "ya29.fake-2"
    offset = 2 * 3600  # the new one is expired too: the next attempt waits for a third
    await source.prepare()
    assert source.token() == "ya29.fake-3"
    assert len(token_server.grants) == 3


async def test_application_default_credentials_from_the_environment(
    token_server: TokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "adc.json"
    path.write_text(json.dumps(service_account_info(token_server, project="adc-project")))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    lazy, project = google_token(None)
    assert project is None and lazy.credentials is None  # loaded on the first token, in a thread
    await lazy.prepare()
    assert lazy.token() == "ya29.fake-1"
    _, project = google_token(None, need_project=True)
    assert project == "adc-project"


async def test_refused_grant_and_unreachable_endpoint_are_typed(token_server: TokenServer):
    info = service_account_info(token_server)
    token_server.fail_with = 400
    with pytest.raises(AuthenticationError, match="invalid_grant"):
        await google_token(info)[0].prepare()
    info["token_uri"] = "http://127.0.0.1:9/token"  # nothing listens on the discard port
    with pytest.raises(APIConnectionError, match="could not reach Google's token endpoint"):
        await google_token(info)[0].prepare()


def test_bad_vertex_credentials_are_refused_before_any_request(tmp_path: Path):
    with pytest.raises(BadRequestError, match="no file at"):
        load_credentials("/nonexistent/key.json")
    with pytest.raises(BadRequestError, match="does not parse"):
        load_credentials('{"type": "service_account",')
    with pytest.raises(BadRequestError, match="got int"):
        load_credentials(42)
    with pytest.raises(BadRequestError, match="not a usable service_account"):
        load_credentials({"type": "service_account", "client_email": "x@y"})
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(BadRequestError, match="does not hold a JSON object"):
        load_credentials(tmp_path / "list.json")


def test_a_volley_token_source_is_used_as_is():
    source = StaticToken("ya29.given")
    assert google_token(source) == (source, None)


def test_a_google_credentials_object_is_used_as_is(token_server: TokenServer):
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_info(service_account_info(token_server))
    assert creds.requires_scopes
    loaded, project = load_credentials(creds)
    assert not loaded.requires_scopes  # scoped to cloud-platform on the way in
    assert project == "sa-project"
