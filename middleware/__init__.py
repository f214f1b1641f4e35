"""Framework-neutral upload interception: policy, WSGI and ASGI middleware (see the middleware issue)."""
