from __future__ import annotations

import pytest

from cloudai_tasks.errors import ConfigError
from cloudai_tasks.settings import ENV_VARS, Settings


def test_defaults_come_from_the_home(tmp_path):
    s = Settings.from_env({"CLOUDAI_HOME": str(tmp_path)})
    assert s.broker_url == "rediss://localhost:6380/0"
    assert s.result_backend == s.broker_url
    assert s.database_url == f"sqlite:///{tmp_path / 'cloudai.db'}"
    assert s.tls_cert == tmp_path / "tls" / "producer.pem"


def test_environment_overrides_the_settings_file(tmp_path):
    (tmp_path / "settings.toml").write_text('broker_url = "rediss://a:1/0"\nredis_port = 7000\n')
    assert Settings.from_env({"CLOUDAI_HOME": str(tmp_path)}).broker_url == "rediss://a:1/0"
    s = Settings.from_env({"CLOUDAI_HOME": str(tmp_path), "CLOUDAI_BROKER_URL": "rediss://b:2/0"})
    assert s.broker_url == "rediss://b:2/0" and s.redis_port == 7000


@pytest.mark.parametrize("var,value,match", [("CLOUDAI_ROLE", "root", "not a role"),
                                             ("CLOUDAI_VISIBILITY_TIMEOUT", "soon", "whole number"),
                                             ("CLOUDAI_PREFETCH_MULTIPLIER", "0", "at least 1")])
def test_bad_values_name_the_variable(tmp_path, var, value, match):
    with pytest.raises(ConfigError, match=match) as info:
        Settings.from_env({"CLOUDAI_HOME": str(tmp_path), var: value})
    assert info.value.setting == var


def test_a_broken_settings_file_says_how_to_fix_it(tmp_path):
    (tmp_path / "settings.toml").write_text("broker_url = ")
    with pytest.raises(ConfigError, match="cloudai init --force"):
        Settings.from_env({"CLOUDAI_HOME": str(tmp_path)})


def test_every_variable_is_documented_in_the_readme():
    from tests.fixtures.services import REPO

    readme = (REPO / "README.md").read_text()
    assert [v for v in ENV_VARS if f"`{v}`" not in readme] == []
