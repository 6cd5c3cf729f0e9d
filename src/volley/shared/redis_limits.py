"""A lane's shared limits in Redis: one Lua script per reservation, on the server's clock.

Keys for a lane (``{id}`` is a hash of the lane key, so no account shows; the braces keep a
lane's keys in one Redis Cluster slot); all expire after a day unused:

- ``volley:lane:{id}:s`` hash: ``tr``/``tt`` the GCRA theoretical arrival times of requests and
  tokens (microseconds of Redis ``TIME``), ``pu`` paused until, ``cw`` AIMD window, ``pr`` probing,
  ``sd`` slowdown, ``lr``/``lt`` learned rpm/tpm, ``rl`` 429s seen, ``gr`` turns given.
- ``volley:lane:{id}:l`` sorted set: concurrency leases, scored by expiry (expired ones are dropped
  by every call, so a worker killed mid-request frees its slot within the lease's time to live).
- ``volley:lane:{id}:m`` sorted set: processes using the lane, scored by expiry of their heartbeat.
- ``volley:lane:{id}:e`` channel: ``f`` (a slot was returned), ``p <us>`` (a used-up budget's pause
  began) and ``l <us>`` (a 429's pause, or one set by :meth:`SharedLane.pause`, began).

The scripts are the steps of :class:`volley.shared.store.LaneState`, in Lua.

Example::

    store = RedisLimitStore.from_url("redis://127.0.0.1:6379/0", ("openai", base, "gpt-4o-mini"))
    lane = SharedLane(store)
    lane.configure(max_workers=50, rpm=600)
    lease = await lane.acquire(tokens=300)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable
from typing import Any

from ..engine.limits import PROBE, SAFETY
from . import _redis
from .store import MEMBER_TTL, LaneConfig, Reply, SharedLane, StoreUnavailable, clamp_pause, lane_id

__all__ = ["RedisLimitStore", "SharedLane"]

IDLE_MS = 86_400_000  # keys of a lane nobody used for a day go away

# Shared prelude: server time in microseconds, and the lane's state.
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function num(v, d) local x = tonumber(v); if x == nil then return d end; return x end
local function f(x) return string.format('%.17g', x) end
local s = redis.call('HMGET', KEYS[1], 'pu', 'pr', 'cw', 'sd', 'lr', 'lt', 'tr', 'tt', 'rl')
local pu, probing, cw, sd = num(s[1], 0), s[2] ~= '0', num(s[3], nil), num(s[4], 1)
local lr, lt, tr, tt, rl = num(s[5], 0), num(s[6], 0), num(s[7], 0), num(s[8], 0), num(s[9], 0)
local function touch(idle)
  for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], idle) end
end
"""

# KEYS: state, leases, members. ARGV: lease, member, tokens, max_workers, rpm, tpm, lease_ttl_us,
# member_ttl_us, safety, probe, idle_ms. Returns {status (1 granted, 0 paused, 2 full), wait_us, members}.
RESERVE = (
    _PRELUDE
    + """
local lease, member = ARGV[1], ARGV[2]
local tokens, mw, rpm, tpm = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ttl, mttl, safety, probe, idle = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]),
  tonumber(ARGV[10]), tonumber(ARGV[11])
redis.call('ZADD', KEYS[3], now + mttl, member)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local members = redis.call('ZCARD', KEYS[3])
touch(idle)
if pu > now then return {0, math.floor(pu - now), members} end
if probing and (rpm > 0 or tpm > 0 or lr > 0 or lt > 0) then
  probing = false; cw = mw
  redis.call('HSET', KEYS[1], 'pr', '0', 'cw', f(cw))
end
if cw == nil then
  if probing then cw = probe else cw = mw end
  redis.call('HSET', KEYS[1], 'cw', f(cw))
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if not redis.call('ZSCORE', KEYS[2], lease) then
  local limit = math.max(1, math.min(mw, math.floor(cw)))
  if redis.call('ZCARD', KEYS[2]) >= limit then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {2, math.max(0, math.floor(tonumber(first[2]) - now)), members}
  end
end
local rate_r, rate_t = lr, lt
if rpm > 0 then rate_r = rpm end
if tpm > 0 then rate_t = tpm end
local scale = safety * sd / 60 / 1000000
local start = now
if rate_r > 0 and tr > start then start = tr end
if rate_t > 0 and tokens > 0 and tt > start then start = tt end
if rate_r > 0 then redis.call('HSET', KEYS[1], 'tr', f(start + 1 / (rate_r * scale))) end
if rate_t > 0 and tokens > 0 then redis.call('HSET', KEYS[1], 'tt', f(start + tokens / (rate_t * scale))) end
redis.call('ZADD', KEYS[2], start + ttl, lease)
redis.call('HINCRBY', KEYS[1], 'gr', 1)
return {1, math.floor(start - now), members}
"""
)

# KEYS: state, leases, members. ARGV: lease, tokens_delta, ok, rate_limited, pause_us, learned_rpm,
# learned_tpm, max_workers, tpm, safety, channel, idle_ms, probe. Returns {lease was held, pause_left_us}.
RELEASE = (
    _PRELUDE
    + """
local lease, delta, ok, limited = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1', ARGV[4] == '1'
local pause, lrn_r, lrn_t, mw = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local tpm, safety, channel, idle = tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11], tonumber(ARGV[12])
local removed = redis.call('ZREM', KEYS[2], lease)
local rate_t = lt
if tpm > 0 then rate_t = tpm end
if delta ~= 0 and rate_t > 0 then
  tt = tt + delta / (rate_t * safety * sd / 60 / 1000000)
  redis.call('HSET', KEYS[1], 'tt', f(tt))
end
if lrn_r > 0 or lrn_t > 0 then
  if lrn_r > 0 then lr = lrn_r end
  if lrn_t > 0 then lt = lrn_t end
  redis.call('HSET', KEYS[1], 'lr', f(lr), 'lt', f(lt))
  if probing then probing = false; cw = mw end
end
if cw == nil then
  if probing then cw = tonumber(ARGV[13]) else cw = mw end
end
if limited then
  rl = rl + 1
  probing = false
  if now >= pu then
    local limit = math.max(1, math.min(mw, math.floor(cw)))
    cw = math.max(1, limit / 2)
    sd = math.max(0.1, sd * 0.9)
  end
elseif ok then
  if probing then
    probing = false; cw = mw
  else
    cw = math.min(mw, cw + 1 / math.max(cw, 1))
  end
  if sd < 1 then sd = math.min(1, sd + 0.002) end
end
local pr = '1'
if not probing then pr = '0' end
redis.call('HSET', KEYS[1], 'cw', f(cw), 'pr', pr, 'sd', f(sd), 'rl', rl)
if pause > 0 and now + pause > pu then
  pu = now + pause
  redis.call('HSET', KEYS[1], 'pu', f(pu))
  local kind = 'p '
  if limited then kind = 'l ' end
  redis.call('PUBLISH', channel, kind .. string.format('%d', pause))
end
if removed == 1 then redis.call('PUBLISH', channel, 'f') end
touch(idle)
return {removed, math.max(0, math.floor(pu - now))}
"""
)

# KEYS: state, leases, members. ARGV: member, ttl_us, member_ttl_us, lease... Returns leases renewed.
RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local n = 0
for i = 4, #ARGV do
  local exp = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if exp then
    n = n + 1
    if tonumber(exp) < now + tonumber(ARGV[2]) then redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[i]) end
  end
end
return n
"""

# KEYS: state. ARGV: pause_us (0: only read), channel. Returns pause left (us).
PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pu = tonumber(redis.call('HGET', KEYS[1], 'pu')) or 0
local pause = tonumber(ARGV[1])
if pause > 0 and now + pause > pu then
  pu = now + pause
  redis.call('HSET', KEYS[1], 'pu', string.format('%.17g', pu))
  redis.call('PUBLISH', ARGV[2], 'l ' .. string.format('%d', pause))
end
return math.max(0, math.floor(pu - now))
"""

_US = 1_000_000


class RedisLimitStore:
    """A :class:`~volley.shared.store.LimitStore` for one lane in Redis. Every method is one round trip.

    ``client`` is a ``redis.asyncio.Redis`` (``decode_responses=True``); :meth:`from_url` makes one
    per event loop with short timeouts. Unreachable Redis raises :class:`StoreUnavailable`.
    """

    def __init__(self, client: Any, key: Hashable, *, prefix: str = "volley:lane:", name: str = "redis") -> None:
        self.client = client
        self.name = name
        base = f"{prefix}{{{lane_id(key)}}}"
        self.keys = [f"{base}:s", f"{base}:l", f"{base}:m"]
        self.channel = f"{base}:e"
        self._errors = _redis.errors()
        self._reserve = client.register_script(RESERVE)
        self._release = client.register_script(RELEASE)
        self._renew = client.register_script(RENEW)
        self._pause = client.register_script(PAUSE)

    @classmethod
    def from_url(cls, url: str, key: Hashable, **kw: Any) -> RedisLimitStore:
        """The store for lane ``key`` at ``url`` (``redis://[:password@]host:port/db``), on this loop's client."""
        return cls(_redis.client(url), key, name=_redis.redact(url), **kw)

    def __repr__(self) -> str:
        return f"<RedisLimitStore {self.name} {self.keys[0]}>"

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except self._errors as exc:
            raise StoreUnavailable(f"the shared limit store {self.name} is unreachable: {exc}") from exc

    async def reserve(self, lease: str, member: str, tokens: float, cfg: LaneConfig, ttl: float) -> Reply:
        status, wait, members = await self._call(self._reserve, self.keys, [
            lease, member, float(tokens), cfg.max_workers, cfg.rpm or 0, cfg.tpm or 0, int(ttl * _US),
            int(MEMBER_TTL * _US), SAFETY, PROBE, IDLE_MS,
        ])  # fmt: skip
        kind = {1: "granted", 0: "paused", 2: "full"}[int(status)]
        return Reply(kind, int(wait) / _US, int(members))  # type: ignore[arg-type]

    async def release(
        self,
        lease: str,
        cfg: LaneConfig,
        *,
        tokens_delta: float = 0.0,
        ok: bool = True,
        rate_limited: bool = False,
        pause: float = 0.0,
        learned_rpm: float | None = None,
        learned_tpm: float | None = None,
    ) -> float:
        _, left = await self._call(self._release, self.keys, [
            lease, float(tokens_delta), int(ok), int(rate_limited), int(clamp_pause(pause) * _US),
            learned_rpm or 0, learned_tpm or 0, cfg.max_workers, cfg.tpm or 0, SAFETY, self.channel, IDLE_MS, PROBE,
        ])  # fmt: skip
        return int(left) / _US

    async def renew(self, leases: list[str], member: str, ttl: float) -> int:
        args = [member, int(ttl * _US), int(MEMBER_TTL * _US), *leases]
        return int(await self._call(self._renew, self.keys, args))

    async def pause(self, seconds: float) -> float:
        return int(await self._call(self._pause, self.keys[:1], [int(clamp_pause(seconds) * _US), self.channel])) / _US

    async def paused(self) -> float:
        return int(await self._call(self._pause, self.keys[:1], [0, self.channel])) / _US

    async def learn(self, rpm: float | None, tpm: float | None) -> None:
        fields = {k: float(v) for k, v in (("lr", rpm), ("lt", tpm)) if v}
        if fields:
            try:
                await self.client.hset(self.keys[0], mapping=fields)
            except self._errors as exc:
                raise StoreUnavailable(f"the shared limit store {self.name} is unreachable: {exc}") from exc

    async def learned(self) -> tuple[float | None, float | None]:
        try:
            lr, lt = await self.client.hmget(self.keys[0], ["lr", "lt"])
        except self._errors as exc:
            raise StoreUnavailable(f"the shared limit store {self.name} is unreachable: {exc}") from exc
        return (float(lr) if lr and float(lr) > 0 else None, float(lt) if lt and float(lt) > 0 else None)

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except self._errors as exc:
            raise StoreUnavailable(f"the shared limit store {self.name} is unreachable: {exc}") from exc

    def events(self) -> AsyncIterator[tuple[str, float]]:
        return self._events()

    async def _events(self) -> AsyncIterator[tuple[str, float]]:
        pubsub = self.client.pubsub()
        try:
            try:
                await pubsub.subscribe(self.channel)
            except self._errors as exc:
                raise StoreUnavailable(f"cannot subscribe to {self.name}: {exc}") from exc
            yield ("ready", 0.0)
            while True:
                try:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                except self._errors as exc:
                    raise StoreUnavailable(f"lost the subscription to {self.name}: {exc}") from exc
                if msg is None or msg.get("type") != "message":
                    continue
                data = msg["data"]
                if data == "f":
                    yield ("free", 0.0)
                elif data.startswith("p "):
                    yield ("pause", int(data[2:]) / _US)
                elif data.startswith("l "):
                    yield ("limited", int(data[2:]) / _US)
        finally:
            with contextlib.suppress(BaseException):
                await asyncio.shield(pubsub.aclose())

    async def snapshot(self) -> dict[str, Any]:
        """The lane's state as stored (tests, benchmarks)."""
        state = await self.client.hgetall(self.keys[0])
        leases = await self.client.zcard(self.keys[1])
        return {"in_flight": leases, **state}

    async def aclose(self) -> None:
        return None
