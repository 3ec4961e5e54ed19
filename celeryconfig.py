"""Celery settings for CloudAI Tasks, read from the environment (every variable is listed in the README).

Add a Celery setting below to apply it to every process on this machine. TLS cannot be weakened here:
the application re-checks the merged configuration and refuses to start if it would not verify the broker.
"""
from cloudai_tasks.celery_config import celery_settings
from cloudai_tasks.settings import Settings

SETTINGS = Settings.from_env()
globals().update(celery_settings(SETTINGS))
