"""Framing readers: turn an HTTP body stream into ``(event, data)`` pairs for a protocol's StreamParser."""
