"""Scheduling: bounded concurrency, retries and racing over plain coroutine factories.

The engine knows nothing of providers or HTTP; it runs ``Callable[[], Awaitable[T]]`` jobs.
"""
