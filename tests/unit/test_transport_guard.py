"""Invariant 1 at set-up: insecure broker settings are refused before any connection, with the fix named."""
from __future__ import annotations

import ssl
import subprocess
import sys

import pytest

from cloudai_tasks.app import create_app
from cloudai_tasks.errors import ConfigError
from cloudai_tasks.security.config_home import init_home
from cloudai_tasks.security.transport import check_celery_conf, check_url
from cloudai_tasks.settings import Settings
from tests.fixtures.services import REPO


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return init_home(tmp_path_factory.mktemp("guard") / "home", redis_port=6399).home


@pytest.mark.parametrize("url", ["redis://localhost:6379/0", "unix:///tmp/redis.sock", "amqp://localhost//",
                                 "localhost:6379"])
def test_non_tls_urls_are_refused(url):
    with pytest.raises(ConfigError, match="TLS only"):
        check_url(url, "CLOUDAI_BROKER_URL")


@pytest.mark.parametrize("query", ["ssl_cert_reqs=none", "ssl_cert_reqs=CERT_OPTIONAL", "ssl_check_hostname=false",
                                   "ssl_ca_certs=/tmp/x"])
def test_tls_options_in_the_url_are_refused(query):
    with pytest.raises(ConfigError, match="CLOUDAI_TLS_CA"):
        check_url(f"rediss://localhost:6380/0?{query}", "CLOUDAI_BROKER_URL")


def test_memory_transport_is_allowed_for_unit_tests():
    assert check_url("memory://", "CLOUDAI_BROKER_URL") == "memory"


def test_app_requires_verified_tls_with_client_certificate(home):
    app = create_app(Settings.from_env({"CLOUDAI_HOME": str(home)}))
    for key in ("broker_use_ssl", "redis_backend_use_ssl"):
        opts = app.conf[key]
        assert opts["ssl_cert_reqs"] == ssl.CERT_REQUIRED
        assert opts["ssl_check_hostname"] is True
        assert opts["ssl_ca_certs"].endswith("ca.pem")
        assert opts["ssl_certfile"].endswith("producer.pem")
    assert app.conf.broker_url.startswith("rediss://")


def test_missing_certificate_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="CLOUDAI_TLS_CA.*cloudai init"):
        create_app(Settings.from_env({"CLOUDAI_HOME": str(tmp_path)}))


@pytest.mark.parametrize("override", [
    {"broker_use_ssl": None},
    {"broker_use_ssl": {"ssl_cert_reqs": ssl.CERT_NONE}},
    {"redis_backend_use_ssl": {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": "ca.pem",
                               "ssl_check_hostname": False}},
])
def test_a_weakened_merged_configuration_is_refused(home, override):
    conf = dict(create_app(Settings.from_env({"CLOUDAI_HOME": str(home)})).conf)
    conf.update(override)
    with pytest.raises(ConfigError, match="verified server certificate"):
        check_celery_conf(conf)


@pytest.mark.parametrize("var,value", [("CLOUDAI_BROKER_URL", "redis://localhost:6399/0"),
                                       ("CLOUDAI_RESULT_BACKEND", "redis://localhost:6399/1"),
                                       ("CLOUDAI_BROKER_URL", "rediss://localhost:6399/0?ssl_cert_reqs=none")])
def test_celery_worker_refuses_to_start(home, var, value):
    """`celery -A cloudai_tasks worker` with an insecure URL exits non-zero at once and says what to fix."""
    env = {"PATH": "/usr/bin:/bin", "CLOUDAI_HOME": str(home), var: value}
    out = subprocess.run([sys.executable, "-m", "celery", "-A", "cloudai_tasks", "worker"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert f"{var} " in out.stderr and ("TLS only" in out.stderr or "CLOUDAI_TLS_CA" in out.stderr)


def test_cli_reports_config_errors_without_traceback(home):
    env = {"PATH": "/usr/bin:/bin", "CLOUDAI_HOME": str(home), "CLOUDAI_BROKER_URL": "redis://localhost:1/0"}
    out = subprocess.run([sys.executable, "-m", "cloudai_tasks.cli", "ping"], env=env, cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and "TLS only" in out.stderr
