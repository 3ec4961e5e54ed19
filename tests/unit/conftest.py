"""Unit-test fixtures: nothing here starts a service."""
import pytest

from cloudai_tasks.storage.db import make_engine, session_factory
from cloudai_tasks.storage.migrate import upgrade


@pytest.fixture
def sessions(tmp_path):
    """Sessions on a fresh SQLite index with every migration applied."""
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()
