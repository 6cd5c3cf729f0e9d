"""Request authentication beyond a static key header: OAuth / Entra ID bearer tokens refreshed before expiry.

``tokens`` holds the shared token sources; ``azure`` (Microsoft Entra ID via azure-identity) and
``google`` (Google OAuth via google-auth) build them. Each heavy library is imported only when used.
"""
