"""Result storage for workers, whose ACL user may write result keys but never read them.

Celery's key-value backends read a task's stored result before writing a new one, so that a late duplicate
cannot overwrite a SUCCESS. A worker allowed that read could read every task's result, so workers write without
it: a redelivered job's final state replaces the earlier one. Producers keep Celery's stock backend.
"""
from __future__ import annotations

from celery.backends.redis import RedisBackend
from celery.exceptions import BackendStoreError
from kombu.utils.encoding import bytes_to_str


class WriteOnlyRedisBackend(RedisBackend):
    """RedisBackend minus the read-before-write; it connects to the app's (TLS-checked) ``result_backend``."""

    def __init__(self, app=None, url=None, **kwargs) -> None:
        super().__init__(app=app, url=url or app.conf.result_backend, **kwargs)

    def _store_result(self, task_id, result, state, traceback=None, request=None, **kwargs):
        meta = self._get_result_meta(result=result, state=state, traceback=traceback, request=request)
        meta["task_id"] = bytes_to_str(task_id)
        try:
            self._set_with_state(self.get_key_for_task(task_id), self.encode(meta), state)
        except BackendStoreError as ex:
            raise BackendStoreError(str(ex), state=state, task_id=task_id) from ex
        return result
