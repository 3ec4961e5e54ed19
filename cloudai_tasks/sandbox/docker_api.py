"""Connections to the Docker daemon, one pair per process (a forked pool child never reuses its parent's).

Two clients because of a docker SDK limit: the attach stream of a job inherits the client's socket timeout,
so a job that is silent for longer than it would break the log stream. Short API calls use a bounded
timeout; only the attach stream uses the client without one (it ends when the container does, or when the
worker closes it after killing the container).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

from ..errors import ServiceError

API_TIMEOUT_SECONDS = 30


@dataclasses.dataclass(frozen=True)
class Docker:
    api: Any
    stream: Any
    url: str


_connections: dict[tuple[int, str], Docker] = {}


def connect(url: str) -> Docker:
    """The Docker daemon at ``url`` with the API version negotiated once; never pulls, never reads the env."""
    key = (os.getpid(), url)
    if key in _connections:
        return _connections[key]
    import docker

    try:
        api = docker.APIClient(base_url=url, version="auto", timeout=API_TIMEOUT_SECONDS)
        stream = docker.APIClient(base_url=url, version=api.api_version, timeout=None)
    except docker.errors.DockerException as e:
        raise ServiceError(f"Docker is not reachable at {url} ({e}); start it with deploy/start-dockerd.sh "
                           f"or point CLOUDAI_DOCKER_URL at the daemon") from e
    _connections[key] = Docker(api=api, stream=stream, url=url)
    return _connections[key]
