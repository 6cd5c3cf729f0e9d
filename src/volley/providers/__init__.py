"""Hosts: one :class:`~volley.providers.base.Provider` per place a model can be sent (``builtin`` holds
volley's own); the wire formats they speak live in ``volley.protocols``."""
