"""stdout/stderr capture: capped files, hashed as written, the runner told once when a cap is hit."""
from __future__ import annotations

import hashlib
import stat

from cloudai_tasks.sandbox.logs import LogCapture


def drain(tmp_path, frames, cap):
    calls = []
    capture = LogCapture(tmp_path, cap, on_cap=lambda: calls.append(1))
    capture.start(iter(frames))
    assert capture.join(5)
    return capture.close(), calls


def test_streams_go_to_separate_private_files(tmp_path):
    logs, calls = drain(tmp_path, [(b"out1 ", None), (None, b"err"), (b"out2", None)], cap=100)
    assert (tmp_path / "stdout").read_bytes() == b"out1 out2"
    assert (tmp_path / "stderr").read_bytes() == b"err"
    assert logs["stdout"].size == 9 and logs["stdout"].sha256 == hashlib.sha256(b"out1 out2").hexdigest()
    assert not logs["stdout"].truncated and calls == []
    assert stat.S_IMODE((tmp_path / "stdout").stat().st_mode) == 0o600


def test_output_past_the_cap_is_dropped_and_reported_once(tmp_path):
    frames = [(b"x" * 60, None)] * 1000 + [(None, b"e" * 10)]
    logs, calls = drain(tmp_path, frames, cap=100)
    assert (tmp_path / "stdout").read_bytes() == b"x" * 100
    assert logs["stdout"].truncated and logs["stdout"].size == 100
    assert logs["stderr"].size == 10 and not logs["stderr"].truncated
    assert calls == [1]


def test_a_broken_stream_keeps_what_arrived(tmp_path):
    def frames():
        yield (b"partial", None)
        raise ConnectionResetError("stream closed")

    capture = LogCapture(tmp_path, 100, on_cap=lambda: None)
    capture.start(frames())
    assert capture.join(5)
    logs = capture.close()
    assert logs["stdout"].size == 7 and isinstance(capture.error, ConnectionResetError)
