"""Limits and cache shared between processes (and machines): one lane, one cache, many workers.

- :mod:`volley.shared.store`: the store interface (:class:`~volley.shared.store.LimitStore`), its
  in-memory reference implementation, and :class:`~volley.shared.store.SharedLane`, the client side
  that mirrors :class:`volley.engine.limits.Lane` over any store.
- :mod:`volley.shared.redis_limits`: the store in Redis (one Lua script per reservation).
- :mod:`volley.shared.fallback`: :class:`~volley.shared.fallback.ResilientLane`, a shared lane that
  falls back to local limits while the store is unreachable and rejoins when it is back.
- :mod:`volley.shared.redis_cache`: the response cache in Redis, with in-flight dedupe across processes.

Nothing here is imported by ``import volley``; the Redis client (extra ``redis``) loads on first use.
"""

from __future__ import annotations
