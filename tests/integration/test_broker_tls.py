"""Invariant 1: no plaintext network path. A job round-trips over TLS; every unverified client is refused."""
from __future__ import annotations

import socket
import ssl
import subprocess
import sys

import pytest
import redis

from cloudai_tasks.security.config_home import init_home
from cloudai_tasks.security.transport import redis_client
from tests.fixtures.services import REPO

pytestmark = pytest.mark.integration


def test_delay_round_trip_through_a_real_worker(redis_server, celery_worker, producer_app):
    celery_worker(concurrency=2)
    results = [producer_app.signature("cloudai.ping", args=(i,)).delay() for i in range(20)]
    assert [r.get(timeout=30) for r in results] == list(range(20))


def test_producer_process_using_the_package_tasks(redis_server, celery_worker):
    """A separate producer process that only has the environment, as a real service would."""
    celery_worker()
    code = "from cloudai_tasks.tasks import ping; print(ping.delay(41).get(timeout=30))"
    env = {"PATH": "/usr/bin:/bin", **redis_server.env("producer")}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "41"


def test_plaintext_client_is_refused(redis_server):
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=2)
    with pytest.raises(redis.exceptions.ConnectionError):
        client.ping()


def _tls_ping(redis_server, **ssl_kwargs) -> None:
    client = redis.Redis(host="localhost", port=redis_server.port, ssl=True, socket_timeout=3,
                         socket_connect_timeout=3, **ssl_kwargs)
    try:
        client.ping()
    finally:
        client.close()


def test_client_without_certificate_is_refused(redis_server):
    tls = redis_server.home / "tls"
    with pytest.raises(redis.exceptions.ConnectionError):
        _tls_ping(redis_server, ssl_ca_certs=str(tls / "ca.pem"), ssl_cert_reqs="required")


def test_client_with_certificate_from_another_ca_is_refused(redis_server, tmp_path):
    other = init_home(tmp_path / "other").home / "tls"
    with pytest.raises(redis.exceptions.ConnectionError):
        _tls_ping(redis_server, ssl_ca_certs=str(redis_server.home / "tls" / "ca.pem"), ssl_cert_reqs="required",
                  ssl_certfile=str(other / "producer.pem"), ssl_keyfile=str(other / "producer-key.pem"))


def test_client_without_our_ca_does_not_trust_the_server(redis_server):
    """A client that verifies against the system CAs (not ours) refuses the server certificate."""
    tls = redis_server.home / "tls"
    with pytest.raises(redis.exceptions.ConnectionError, match="(?i)certificate verify failed"):
        _tls_ping(redis_server, ssl_cert_reqs="required", ssl_certfile=str(tls / "producer.pem"),
                  ssl_keyfile=str(tls / "producer-key.pem"))


def test_our_client_checks_the_server_host_name(redis_server):
    """The server certificate names localhost and 127.0.0.1, not ::1: our client refuses it on ::1."""
    s = redis_server.settings()
    client = redis_client(f"rediss://[::1]:{redis_server.port}/0", s.tls_ca, s.tls_cert, s.tls_key,
                          socket_timeout=3, socket_connect_timeout=3)
    with pytest.raises(redis.exceptions.ConnectionError, match="(?i)hostname|ip address mismatch|doesn't match"):
        client.ping()


def test_only_tls_1_2_or_newer_is_accepted(redis_server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(redis_server.home / "tls" / "ca.pem"))
    ctx.load_cert_chain(str(redis_server.home / "tls" / "producer.pem"),
                        str(redis_server.home / "tls" / "producer-key.pem"))
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=3) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            ctx.wrap_socket(raw, server_hostname="localhost")
