from cloudai_tasks.settings import Settings
from cloudai_tasks.settings_file import set_setting


def test_set_setting_replaces_and_is_read_back(tmp_path):
    (tmp_path / "settings.toml").write_text('broker_url = "rediss://h:1/0"\nsandbox_images = "old=sha256:1"\n')
    set_setting(tmp_path, "sandbox_images", 'python=sha256:abc"quote')
    text = (tmp_path / "settings.toml").read_text()
    assert text.count("sandbox_images") == 1 and (tmp_path / "settings.toml").stat().st_mode & 0o777 == 0o600
    s = Settings.from_env({"CLOUDAI_HOME": str(tmp_path)})
    assert s.sandbox_images == 'python=sha256:abc"quote' and s.broker_url == "rediss://h:1/0"
