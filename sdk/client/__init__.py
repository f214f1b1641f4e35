"""The client tier: what backend code calls to cloak, in-process or against a Serve cluster.

- :mod:`~stylecloak.client.clients`: :class:`Client` and :class:`AsyncClient`, one front over the backends;
- :mod:`~stylecloak.client.backend`: the backend protocols, :class:`CloakCall` and the local (in-process) backend;
- :mod:`~stylecloak.client.http`: the http backend, which talks to the Serve application (needs ``[client]``);
- :mod:`~stylecloak.client.jobs`: async job handles and the local job runner.

Nothing here imports torch at import time: the local backend loads the engine on its first cloak.
"""

from __future__ import annotations

from stylecloak.client.backend import CloakCall
from stylecloak.client.clients import AsyncClient, BaseClient, Client, ClientStats, LocalBackend
from stylecloak.client.jobs import AsyncJob, Job

__all__ = ["AsyncClient", "AsyncJob", "BaseClient", "Client", "ClientStats", "CloakCall", "Job", "LocalBackend"]
