"""Google OAuth access tokens for Vertex AI, from google-auth, refreshed before expiry off the event loop.

Where the credentials come from (``vertex_credentials=``, LiteLLM's name):

- nothing: Application Default Credentials, ``google.auth.default(scopes=[cloud-platform])``
  (``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth application-default login``, the metadata
  server on Google Cloud ...);
- a path to a JSON key file, the JSON text itself, or the parsed dict: a service account key
  (``"type": "service_account"``), stored user credentials (``authorized_user``) or any other
  configuration google-auth loads (workload identity federation ...);
- a ``google.auth.credentials.Credentials`` object, used as is (scoped when it needs scopes);
- a volley :class:`~volley.auth.tokens.TokenSource` (e.g. ``StaticToken("ya29...")``), used as is.

google-auth is imported only here, when a Vertex call is set up: ``pip install 'volley-llm[vertex]'``.

Example::

    source, project = google_token("/path/to/key.json")
    await source.prepare()
    {"Authorization": f"Bearer {source.token()}"}
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from datetime import timezone
from typing import Any

from ..errors import APIConnectionError, APIError, AuthenticationError, BadRequestError
from .tokens import RefreshingToken, TokenSource

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
EXTRA_HINT = "pip install 'volley-llm[vertex]'"


def _google_auth() -> Any:
    try:
        import google.auth
        import google.auth.transport.requests  # the HTTP transport token refreshes use (needs requests)
    except ImportError:
        raise AuthenticationError(f"Vertex AI authentication needs google-auth[requests]: {EXTRA_HINT}") from None
    return google.auth


class GoogleToken(RefreshingToken):
    """Access tokens of a google-auth ``Credentials`` object (or of ADC, loaded on first use), refreshed
    in a thread ``refresh_margin`` seconds before they expire.

    Example: ``GoogleToken(service_account.Credentials.from_service_account_file(path, scopes=SCOPES))``
    """

    what = "Google OAuth access token"

    def __init__(self, credentials: Any = None, *, scopes: tuple[str, ...] = SCOPES, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scopes = scopes
        self._credentials = credentials
        self._request: Any = None

    @property
    def credentials(self) -> Any:
        """The google-auth credentials (None until first use when they come from ADC)."""
        return self._credentials

    def _fetch(self) -> tuple[str, float | None]:
        google_auth = _google_auth()
        if self._credentials is None:
            self._credentials, _ = google_auth.default(scopes=list(self.scopes))
        if self._request is None:
            self._request = google_auth.transport.requests.Request()
        self._credentials.refresh(self._request)
        expiry = getattr(self._credentials, "expiry", None)  # naive UTC datetime
        expires = expiry.replace(tzinfo=timezone.utc).timestamp() if expiry is not None else None
        return self._credentials.token, expires

    def _error(self, exc: BaseException) -> APIError:
        kind = type(exc).__name__
        if kind == "TransportError":  # the token endpoint could not be reached: worth a retry
            return APIConnectionError(f"could not reach Google's token endpoint: {exc}")
        if kind == "DefaultCredentialsError":
            return AuthenticationError(
                f"no Google credentials for Vertex AI: {exc} (pass vertex_credentials=<key file or JSON>, set "
                "GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`)"
            )
        return AuthenticationError(f"could not get a Google OAuth access token: {kind}: {exc}")

    def headers(self) -> dict[str, str]:
        """``x-goog-user-project`` when the credentials name a quota project (as Google's clients send)."""
        quota = getattr(self._credentials, "quota_project_id", None)
        return {"x-goog-user-project": quota} if isinstance(quota, str) and quota else {}


def _from_info(info: Mapping[str, Any], scopes: tuple[str, ...]) -> tuple[Any, str | None]:
    _google_auth()
    kind = info.get("type")
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            creds = service_account.Credentials.from_service_account_info(dict(info), scopes=list(scopes))  # type: ignore[no-untyped-call]
            return creds, info.get("project_id")
        if kind == "authorized_user":
            from google.oauth2 import credentials as user_credentials

            creds = user_credentials.Credentials.from_authorized_user_info(dict(info), scopes=list(scopes))  # type: ignore[no-untyped-call]
            return creds, info.get("quota_project_id")
        import google.auth

        with warnings.catch_warnings():  # the caller chose this configuration: no "validate it" warning
            warnings.simplefilter("ignore", DeprecationWarning)
            loaded: tuple[Any, str | None] = google.auth.load_credentials_from_dict(dict(info), scopes=list(scopes))  # type: ignore[no-untyped-call]
            return loaded
    except (ValueError, KeyError) as exc:
        raise BadRequestError(f"vertex_credentials is not a usable {kind or 'Google'} credential: {exc}") from None
    except Exception as exc:
        if type(exc).__name__ == "DefaultCredentialsError":
            raise BadRequestError(f"vertex_credentials is not a usable Google credential: {exc}") from None
        raise


def load_credentials(value: Any, scopes: tuple[str, ...] = SCOPES) -> tuple[Any, str | None]:
    """``vertex_credentials`` (path, JSON text, dict or Credentials) → ``(google credentials, project or None)``.

    Raises ``BadRequestError`` naming what is wrong, before any request.
    """
    if isinstance(value, Mapping):
        return _from_info(value, scopes)
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value).strip()
        if text.startswith("{"):
            try:
                info = json.loads(text)
            except ValueError as exc:
                raise BadRequestError(f"vertex_credentials looks like JSON but does not parse: {exc}") from None
            return _from_info(info, scopes)
        if not os.path.isfile(text):
            raise BadRequestError(
                "vertex_credentials must be the path of a JSON key file, the JSON itself, a dict or a "
                f"google-auth Credentials object; no file at {text!r}"
            )
        try:
            with open(text, encoding="utf-8") as f:
                info = json.load(f)
        except (OSError, ValueError) as exc:
            raise BadRequestError(f"vertex_credentials file {text!r} is not readable JSON: {exc}") from None
        if not isinstance(info, dict):
            raise BadRequestError(f"vertex_credentials file {text!r} does not hold a JSON object")
        return _from_info(info, scopes)
    if callable(getattr(value, "refresh", None)) and hasattr(value, "token"):
        if getattr(value, "requires_scopes", False):
            value = value.with_scopes(list(scopes))
        return value, getattr(value, "project_id", None)
    raise BadRequestError(
        "vertex_credentials must be a key file path, JSON text, a dict, a google-auth Credentials object or "
        f"a volley TokenSource; got {type(value).__name__}"
    )


def google_token(
    value: Any = None, *, scopes: tuple[str, ...] = SCOPES, need_project: bool = False
) -> tuple[TokenSource, str | None]:
    """The token source for ``vertex_credentials`` (None: ADC) and the project the credentials name.

    With ADC the credentials are loaded on the first token (in a thread), unless ``need_project``:
    then now, to learn their project.
    """
    if isinstance(value, TokenSource):
        return value, None
    if value is None:
        if not need_project:
            _google_auth()  # a missing extra is a setup error, not a first-request one
            return GoogleToken(None, scopes=scopes), None
        google_auth = _google_auth()
        try:
            creds, project = google_auth.default(scopes=list(scopes))
        except Exception as exc:
            if type(exc).__name__ == "DefaultCredentialsError":
                raise AuthenticationError(GoogleToken()._error(exc).message) from None
            raise
        return GoogleToken(creds, scopes=scopes), project
    creds, project = load_credentials(value, scopes)
    return GoogleToken(creds, scopes=scopes), project
