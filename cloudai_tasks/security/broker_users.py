"""The control plane's hold on the broker's ACL users: make them match the registry, and persist them.

Changes go to the running Redis (``ACL SETUSER`` / ``ACL DELUSER``) and then to its ACL file (``ACL SAVE``), so a
restart keeps them. ``ACL DELUSER`` is the only way to take a key away: it also closes every connection of that
user at once, while ``ACL SETUSER ... off`` would leave them open. The role users' passwords, set by
`cloudai init`, are never rewritten here; only the producer's key patterns follow the enrolled queues.
"""
from __future__ import annotations

from typing import Any, Sequence

import redis

from ..errors import ServiceError
from ..settings import Settings
from .broker_acl import ROLE_USERS, WorkerGrant, producer_key_rules, worker_rules
from .broker_credentials import credentials_for
from .transport import redis_client
from .worker_keys import acl_username

WORKER_USER_PREFIX = "worker:"


class BrokerAdmin:
    """ACL administration over a connection as the admin ACL user."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @classmethod
    def connect(cls, settings: Settings, **kwargs: Any) -> "BrokerAdmin":
        admin = settings if settings.role == "admin" else settings.for_role("admin")
        creds = credentials_for(admin)
        client = redis_client(admin.broker_url, admin.tls_ca, admin.tls_cert, admin.tls_key,
                              username=creds.username, password=creds.password, **kwargs)
        return cls(client)

    def _call(self, *args: Any) -> Any:
        try:
            return self.client.execute_command(*args)
        except redis.exceptions.ConnectionError as e:
            raise ServiceError(f"the broker is not reachable for ACL changes ({type(e).__name__}); start it "
                               f"(`cloudai dev up`) and try again: nothing was changed") from e
        except redis.exceptions.ResponseError as e:
            raise ServiceError(f"the broker refused an ACL change: {e}") from e

    def worker_users(self) -> set[str]:
        names = (n.decode() if isinstance(n, bytes) else n for n in self._call("ACL", "USERS"))
        return {n for n in names if n.startswith(WORKER_USER_PREFIX)}

    def sync(self, grants: Sequence[WorkerGrant]) -> list[str]:
        """Make the worker users exactly ``grants`` (and the producer's queues their union); returns deleted users."""
        wanted = {acl_username(g.worker_id, g.key_id): g for g in grants}
        for name, grant in wanted.items():
            self._call("ACL", "SETUSER", name, *worker_rules(grant))
        queues = sorted({q for g in grants for q in g.queues})
        self._call("ACL", "SETUSER", ROLE_USERS["producer"], *producer_key_rules(queues))
        stale = sorted(self.worker_users() - set(wanted))
        if stale:
            self._call("ACL", "DELUSER", *stale)
        self._call("ACL", "SAVE")
        return stale

    def connections(self, username: str) -> list[dict[str, Any]]:
        """Live connections of ``username`` (what `cloudai workers list` and the revocation tests look at)."""
        return [c for c in self.client.client_list() if c.get("user") == username]

    def worker_connections(self, worker_id: str) -> int:
        """How many live connections all keys of ``worker_id`` hold (one CLIENT LIST, whatever the key count)."""
        prefix = acl_username(worker_id, "")
        return sum(1 for c in self.client.client_list() if c.get("user", "").startswith(prefix))

    def close(self) -> None:
        self.client.close()
