"""CloudAI Tasks: a Celery task queue with hardened workers.

``app`` (the Celery application) is created on first access, so importing the package — for example by
``cloudai init`` before any certificate exists — never needs a configured environment.
"""
__version__ = "0.1.0"

__all__ = ["app", "__version__"]


def __getattr__(name: str):
    if name == "app":
        from .celery import app

        return app
    raise AttributeError(f"module 'cloudai_tasks' has no attribute {name!r}")
