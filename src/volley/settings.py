"""Module-wide settings (LiteLLM's globals): ``volley.num_retries = 3`` and friends, in one place.

Setting one of :data:`NAMES` on the ``volley`` module stores it here, checked at once (a bad value
raises ``InvalidRequestError`` naming the setting); reading it back returns what is stored. The
core reads them only through :data:`settings`, when a call or batch is set up, as the defaults of
the call's own keyword arguments (a keyword argument always wins).

=========================  ===========================================================================
``num_retries``            default retries of a call (None: volley's default, 3)
``drop_params``            drop parameters a provider does not take instead of refusing them
``api_key``                key for every provider (after ``api_key=``, before the environment)
``openai_key`` ...         one provider's key (``<provider>_key``, and LiteLLM's spellings)
``api_base``               base URL for every call without ``api_base=``
``request_timeout``        default ``timeout`` in seconds (None: volley's default, 600)
``set_verbose``            True: volley's DEBUG log on stderr
``suppress_debug_info``    accepted: volley prints no debug banner anyway
``success_callback``       functions ``f(kwargs, response, start_time, end_time)`` after each success
``failure_callback``       the same after each failure (``kwargs["exception"]`` holds the error)
``callbacks``              objects with ``log_success_event`` / ``log_failure_event`` (LiteLLM's
                           ``CustomLogger`` shape, async ``async_log_*`` too) or plain functions
``cache``                  a cache every call uses (``volley.Cache()``, a ``ResponseCache``, a
                           ``RedisCache``: anything with ``fetch(call, send)``), None for none
=========================  ===========================================================================

Example::

    import volley as litellm
    litellm.num_retries = 5
    litellm.success_callback = [lambda kwargs, resp, start, end: print(kwargs["model"], resp.cost)]
"""

from __future__ import annotations

from typing import Any

#: LiteLLM's spellings of per-provider keys → the volley provider they are for.
PROVIDER_KEYS = {
    "openai_key": "openai", "anthropic_key": "anthropic", "cohere_key": "cohere", "groq_key": "groq",
    "mistral_key": "mistral", "togetherai_api_key": "together", "together_key": "together",
    "openrouter_key": "openrouter", "deepseek_key": "deepseek", "gemini_key": "gemini",
    "fireworks_key": "fireworks", "fireworks_ai_key": "fireworks",
}  # fmt: skip

_LISTS = ("success_callback", "failure_callback", "callbacks")
_FLAGS = ("drop_params", "set_verbose", "suppress_debug_info")
NAMES = frozenset(
    {"num_retries", "drop_params", "api_key", "api_base", "request_timeout", "set_verbose", "suppress_debug_info",
     "cache", *_LISTS, *PROVIDER_KEYS}
)  # fmt: skip


class Settings:
    """The stored values of :data:`NAMES` (see the module docstring); one instance, :data:`settings`."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.version = 0  # counts the changes made through set() and reset()
        self.reset()

    def reset(self) -> None:
        """Every setting back to its default (tests)."""
        self.version += 1
        self.values = {name: None for name in NAMES}
        self.values.update(dict.fromkeys(_FLAGS, False))
        for name in _LISTS:
            self.values[name] = []
        self._verbose(False)

    def get(self, name: str) -> Any:
        return self.values[name]

    def set(self, name: str, value: Any) -> None:
        """Store ``value`` for ``name`` after checking it; raises ``InvalidRequestError`` if it is wrong."""
        from .validate import InvalidRequestError, non_negative_int, positive_seconds

        def wrong(what: str) -> InvalidRequestError:
            return InvalidRequestError(f"volley.{name} must be {what}; got {value!r}", status_code=400)

        if name not in NAMES:
            raise wrong("one of the settings " + ", ".join(sorted(NAMES)))
        if value is None and name not in _LISTS and name not in _FLAGS:
            pass  # back to the default
        elif name == "num_retries":
            non_negative_int(f"volley.{name}", value)
        elif name == "request_timeout":
            positive_seconds(f"volley.{name}", value)
        elif name in _FLAGS:
            if not isinstance(value, bool):
                raise wrong("True or False")
        elif name in ("api_key", "api_base") or name in PROVIDER_KEYS:
            if not isinstance(value, str):
                raise wrong("a string or None")
        elif name in _LISTS:
            if not isinstance(value, list):
                raise wrong("a list (of functions or callback objects)")
        elif name == "cache" and not callable(getattr(value, "fetch", None)):
            raise wrong("a cache object with fetch(call, send) (e.g. volley.Cache()) or None")
        self.values[name] = value
        self.version += 1
        if name == "set_verbose":
            self._verbose(bool(value))

    # ------------------------------------------------------------------ what the core asks

    def key_for(self, provider: str) -> str | None:
        """The key a call to ``provider`` uses when it gives none: that provider's, else ``api_key``."""
        for name, owner in PROVIDER_KEYS.items():
            if owner == provider and self.values[name]:
                return str(self.values[name])
        return self.values["api_key"] or None

    def state(self) -> tuple[Any, ...]:
        """What the settings are now, cheaply comparable: the changes made through :meth:`set`, and the
        callbacks in the lists (which a caller may change in place, ``volley.success_callback.append(f)``)."""
        v = self.values
        return (self.version, *(tuple(map(id, v[name])) for name in _LISTS))

    def callbacks_set(self) -> bool:
        """Whether any success / failure callback is set."""
        return any(self.values[name] for name in _LISTS)

    @staticmethod
    def _verbose(on: bool) -> None:
        import sys

        if "logging" not in sys.modules and not on:
            return  # nothing to undo, and no reason to load logging
        import logging

        log = logging.getLogger("volley")
        handler = next((h for h in log.handlers if getattr(h, "_volley_verbose", False)), None)
        if on and handler is None:
            handler = logging.StreamHandler()
            handler._volley_verbose = True  # type: ignore[attr-defined]
            handler.setFormatter(logging.Formatter("%(asctime)s volley %(levelname)s %(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.DEBUG)
        elif not on and handler is not None:
            log.removeHandler(handler)
            log.setLevel(logging.NOTSET)


settings = Settings()
