"""The Celery application factory."""
from __future__ import annotations

from celery import Celery

from . import submission  # noqa: F401  (stamps every published job with its submission time)
from .celery_config import celery_settings
from .security.result_backend import WriteOnlyRedisBackend
from .security.transport import IN_PROCESS_SCHEMES, check_celery_conf, check_url
from .security.worker_join import WorkerKeyStep
from .settings import Settings


class CloudAICelery(Celery):
    """A Celery app that carries the CloudAI settings it was built from."""

    settings: Settings


def create_app(settings: Settings | None = None) -> CloudAICelery:
    """Build the app from ``settings``, or from ``celeryconfig`` (the environment) when none are given.

    The merged configuration is checked last, so nothing — not an edit of celeryconfig.py either — can make
    a worker or producer connect to Redis without verifying it. Every worker runs ``WorkerKeyStep``, which
    admits it only with a valid worker key, and stores results write-only (its ACL user cannot read them).
    """
    app = CloudAICelery("cloudai_tasks", set_as_current=settings is None)
    if settings is None:
        import celeryconfig

        settings = celeryconfig.SETTINGS
        app.config_from_object(celeryconfig)
    else:
        app.conf.update(celery_settings(settings))
    check_celery_conf(app.conf)
    app.settings = settings
    app.conf.include = ["cloudai_tasks.tasks", "cloudai_tasks.control"]
    app.steps["worker"].add(WorkerKeyStep)
    if settings.role == "worker" and check_url(app.conf.result_backend, "CLOUDAI_RESULT_BACKEND") \
            not in IN_PROCESS_SCHEMES:
        app.backend_cls = WriteOnlyRedisBackend
    return app
