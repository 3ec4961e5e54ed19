"""The process-wide app, built once from the environment: ``celery -A cloudai_tasks worker`` finds it here."""
from .app import create_app

app = create_app()
