"""``volley.exceptions``: LiteLLM's ``litellm.exceptions`` (the names are in :mod:`volley.compat.exceptions`,
the classes in :mod:`volley.errors`).

Example::

    import volley as litellm
    try:
        litellm.completion("gpt-4o-mini", msgs)
    except litellm.exceptions.RateLimitError as e:
        print(e.llm_provider, e.status_code)
"""

from __future__ import annotations

from .compat.exceptions import *  # noqa: F403
from .compat.exceptions import __all__ as __all__
