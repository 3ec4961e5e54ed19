"""Node maxima from CLOUDAI_SANDBOX_LIMITS: a clear ConfigError for anything malformed."""
from __future__ import annotations

import pytest

from cloudai_tasks.errors import ConfigError
from cloudai_tasks.sandbox.limits import DEFAULT_MAXIMA, parse_maxima
from cloudai_tasks.settings import Settings


def test_maxima_override_only_what_is_named():
    maxima = parse_maxima(" wall_seconds=120 , cpus=0.5,output_files=10")
    assert (maxima.wall_seconds, maxima.cpus, maxima.output_files) == (120, 0.5, 10)
    assert maxima.memory_mb == DEFAULT_MAXIMA.memory_mb


@pytest.mark.parametrize("text,message", [
    ("wall_seconds", "not KEY=VALUE"), ("swap=1", "not KEY=VALUE"), ("memory_mb=lots", "not a number"),
    ("wall_seconds=1.5", "not a number"), ("memory_mb=1", "below the minimum"),
])
def test_malformed_maxima_name_the_setting(text, message):
    with pytest.raises(ConfigError, match=message) as e:
        parse_maxima(text)
    assert e.value.setting == "CLOUDAI_SANDBOX_LIMITS"


def test_sandbox_settings_come_from_the_environment(tmp_path):
    s = Settings.from_env({"CLOUDAI_HOME": str(tmp_path), "CLOUDAI_SANDBOX_LIMITS": "wall_seconds=5",
                           "CLOUDAI_WORKER_ID": "node-1", "CLOUDAI_SANDBOX_REAP_INTERVAL": "7"})
    assert (s.sandbox_limits, s.worker_id, s.sandbox_reap_interval) == ("wall_seconds=5", "node-1", 7)
    assert s.sandbox_outputs == tmp_path / "outputs"
    with pytest.raises(ConfigError):
        Settings.from_env({"CLOUDAI_HOME": str(tmp_path), "CLOUDAI_SANDBOX_REAP_INTERVAL": "0"})


def test_unknown_limit_names_are_quoted_short():
    from cloudai_tasks.errors import JobRejected
    from cloudai_tasks.sandbox.limits import parse_maxima, resolve_limits

    with pytest.raises(JobRejected) as info:
        resolve_limits({"x" * 10_000: 1, "y": 1}, parse_maxima(""))
    assert len(str(info.value)) < 500 and "'y'" in str(info.value)
