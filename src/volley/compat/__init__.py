"""The LiteLLM-shaped surface over volley's core, so LiteLLM batching scripts run after ``import volley as litellm``.

- ``volley.settings``: LiteLLM's module settings (``num_retries``, ``drop_params``, keys, callbacks, ``cache``)
- :mod:`volley.compat.exceptions` (also ``volley.exceptions``): LiteLLM's exception names
- :mod:`volley.compat.helpers`: ``token_counter``, ``get_model_info``, ``cost_per_token``,
  ``completion_with_retries`` ...
- :mod:`volley.compat.router`: ``Router`` (deployments, load balancing, cooldowns, fallbacks) over volley's calls
- :mod:`volley.compat.cache`: ``Cache`` (``volley.cache = volley.Cache()``)

What each LiteLLM name does in volley is tabled in ``docs/litellm-compat.md``.
"""
