"""Who logs in as whom: role secrets or the worker's key, never in a URL, never in a repr or `inspect conf`."""
from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from cloudai_tasks.app import create_app
from cloudai_tasks.errors import ConfigError
from cloudai_tasks.security.broker_credentials import credentials_for
from cloudai_tasks.security.broker_home import secret_file
from cloudai_tasks.security.config_home import init_home
from cloudai_tasks.security.result_backend import WriteOnlyRedisBackend
from cloudai_tasks.security.signing_key import load_signing_key
from cloudai_tasks.security.transport import check_url
from cloudai_tasks.security.worker_join import WorkerKeyStep
from cloudai_tasks.security.worker_keys import issue
from cloudai_tasks.settings import Settings


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return init_home(tmp_path_factory.mktemp("creds") / "home", redis_port=6399).home


@pytest.fixture(scope="module")
def key(home):
    return issue(load_signing_key(home), "gpu-1", ["train"], lifetime=dt.timedelta(days=1)).token


def _settings(home, **env) -> Settings:
    return Settings.from_env({"CLOUDAI_HOME": str(home), **env})


@pytest.mark.parametrize("role", ["producer", "monitor", "admin"])
def test_each_role_logs_in_as_its_own_acl_user_with_its_home_secret(home, role):
    creds = credentials_for(_settings(home, CLOUDAI_ROLE=role))
    assert creds.username == f"cloudai-{role}"
    assert creds.password == secret_file(home, role).read_text().strip()
    assert creds.password not in repr(creds)


def test_a_missing_role_secret_names_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="cloudai init") as info:
        credentials_for(_settings(tmp_path, CLOUDAI_ROLE="producer"))
    assert info.value.setting == "CLOUDAI_BROKER_SECRET_FILE"


def test_a_worker_logs_in_as_its_key_and_never_as_anyone_else(home, key):
    creds = credentials_for(_settings(home, CLOUDAI_ROLE="worker", CLOUDAI_WORKER_KEY=key))
    assert creds.username.startswith("worker:gpu-1:") and creds.password == key
    assert credentials_for(_settings(home, CLOUDAI_ROLE="worker")) is None
    assert credentials_for(_settings(home, CLOUDAI_ROLE="worker", CLOUDAI_WORKER_KEY="garbage")) is None


@pytest.mark.parametrize("url", ["rediss://user:pw@localhost:6380/0", "rediss://:pw@localhost:6380/0",
                                 "rediss://cloudai-admin@localhost:6380/0"])
def test_credentials_in_a_url_are_refused(url):
    with pytest.raises(ConfigError, match="remove them from the URL") as info:
        check_url(url, "CLOUDAI_BROKER_URL")
    assert "pw" not in str(info.value)


def test_settings_reprs_hide_the_key_and_the_database_password(home, key):
    s = _settings(home, CLOUDAI_ROLE="worker", CLOUDAI_WORKER_KEY=key,
                  DATABASE_URL="postgresql://w:db-s3cret@db/x")
    assert key not in repr(s) and "db-s3cret" not in repr(s)
    assert s.worker_id == "gpu-1", "a keyed worker is named after its key unless CLOUDAI_WORKER_ID says otherwise"


def test_a_key_file_others_can_read_is_refused(home, key, tmp_path):
    path = tmp_path / "worker.key"
    path.write_text(key + "\n")
    os.chmod(path, 0o600)
    assert _settings(home, CLOUDAI_WORKER_KEY_FILE=str(path)).worker_key == key
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600") as info:
        _settings(home, CLOUDAI_WORKER_KEY_FILE=str(path))
    assert key not in str(info.value)


def test_a_worker_app_authenticates_with_its_key_stores_results_write_only_and_checks_its_key(home, key):
    app = create_app(_settings(home, CLOUDAI_ROLE="worker", CLOUDAI_WORKER_KEY=key))
    assert app.conf.broker_user == app.conf.redis_username and app.conf.broker_user.startswith("worker:gpu-1:")
    assert app.conf.broker_transport_options["unacked_key"] == "unacked:worker:gpu-1"
    assert app.backend_cls is WriteOnlyRedisBackend
    assert WorkerKeyStep in app.steps["worker"]
    shared = json.dumps(app.conf.table(with_defaults=True, censored=True), default=str)  # what `inspect conf` sends
    assert key not in shared and key.split(".")[2] not in shared
    assert key not in app.connection_for_write().as_uri() and key not in repr(app.conf.broker_url)


def test_a_producer_app_keeps_celerys_own_result_backend(home):
    app = create_app(_settings(home, CLOUDAI_ROLE="producer"))
    assert app.backend_cls is None and app.conf.broker_user == "cloudai-producer"
    assert app.conf.broker_transport_options["unacked_key"] == "unacked:cloudai-producer"
