"""The job spec: what a producer may ask a worker to run, checked completely before anything runs.

A spec arrives as JSON from the broker, so every field is outside input. Refusals raise ``JobRejected``
naming the field and what to change; they never echo values that could be secrets (env values, inputs).
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from typing import Mapping

from ..errors import JobRejected, SecurityError
from ..security.paths import validate_component
from .limits import NAME_SHOWN, Limits, resolve_limits, shown_names

FIELDS = ("user_id", "project", "image", "command", "inputs", "env", "limits")
REQUIRED = ("user_id", "project", "image", "command")

MAX_ID_LENGTH = 64
MAX_IMAGE_NAME_LENGTH = 200
MAX_ARGS = 256
MAX_ARG_LENGTH = 4096
MAX_COMMAND_BYTES = 64 * 1024
MAX_INPUTS = 64
MAX_INPUT_BYTES = 1024 * 1024
MAX_ENV = 64
MAX_ENV_VALUE_LENGTH = 4096

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: Env names that say "secret": the spec travels through the broker and the result backend in clear.
SECRET_NAME = re.compile(r"(^|_)(SECRETS?|TOKENS?|PASSWORDS?|PASSWD|PASS|CREDENTIALS?|AUTH|PRIVATE|KEYS?|APIKEY)"
                         r"(_|$)", re.IGNORECASE)
IMAGE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]*")


@dataclasses.dataclass(frozen=True)
class JobSpec:
    user_id: str
    project: str
    image: str
    command: tuple[str, ...]
    inputs: tuple[tuple[str, bytes], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    limits: Limits = dataclasses.field(default_factory=Limits)


def check_name(value: object, field: str, max_length: int = MAX_ID_LENGTH) -> str:
    """Ids and file names: one safe path component (no ``/``, no ``..``, no NUL), bounded length."""
    try:
        return validate_component(value, what=field, max_length=max_length)  # type: ignore[arg-type]
    except SecurityError as e:
        raise JobRejected(str(e), field=field) from None


def _check_text(value: object, field: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise JobRejected(f"{field} must be a string, not {type(value).__name__}", field=field)
    if "\x00" in value:
        raise JobRejected(f"{field} contains a NUL character", field=field)
    if len(value) > max_length:
        raise JobRejected(f"{field} is longer than {max_length} characters", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise JobRejected(f"{field} is not valid UTF-8 text", field=field) from None
    return value


def _command(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise JobRejected("command must be a non-empty list of strings (argv), e.g. [\"python3\", \"-c\", \"...\"]",
                          field="command")
    if len(raw) > MAX_ARGS:
        raise JobRejected(f"command has {len(raw)} arguments; at most {MAX_ARGS} are allowed", field="command")
    argv = tuple(_check_text(arg, f"command[{i}]", MAX_ARG_LENGTH) for i, arg in enumerate(raw))
    if not argv[0]:
        raise JobRejected("command[0] (the program) is empty", field="command")
    if sum(len(a.encode()) for a in argv) > MAX_COMMAND_BYTES:
        raise JobRejected(f"command is longer than {MAX_COMMAND_BYTES} bytes in total; pass data as inputs",
                          field="command")
    return argv


def encode_input(data: bytes) -> str | dict[str, str]:
    """How a producer puts a file into ``inputs``: text as is, anything else as ``{"base64": ...}``."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def _input_bytes(name: str, value: object) -> bytes:
    field = f"inputs.{name}"
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise JobRejected(f"{field} is not valid UTF-8 text; send it as {{\"base64\": ...}}", field=field) from None
    if isinstance(value, Mapping) and set(value) == {"base64"} and isinstance(value["base64"], str):
        try:
            return base64.b64decode(value["base64"], validate=True)
        except (binascii.Error, ValueError):
            raise JobRejected(f"{field} is not valid base64", field=field) from None
    raise JobRejected(f"{field} must be a string (UTF-8 text) or {{\"base64\": \"...\"}}", field=field)


def _bounded_object(raw: object, field: str, shape: str, what: str, most: int) -> Mapping:
    """An optional object field (``inputs``, ``env``): absent is empty, otherwise at most ``most`` entries."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise JobRejected(f"{field} must be an object of {shape}", field=field)
    if len(raw) > most:
        raise JobRejected(f"{len(raw)} {what} given; at most {most} are allowed", field=field)
    return raw


def _inputs(raw: object) -> tuple[tuple[str, bytes], ...]:
    files, total = [], 0
    for name, value in _bounded_object(raw, "inputs", "FILE_NAME: content", "inputs", MAX_INPUTS).items():
        check_name(name, "input file name", max_length=128)
        data = _input_bytes(name, value)
        total += len(data)
        if total > MAX_INPUT_BYTES:
            raise JobRejected(f"inputs are larger than {MAX_INPUT_BYTES} bytes in total; inputs are for small "
                              f"files, put large data where the job can fetch it", field="inputs")
        files.append((name, data))
    return tuple(files)


def _env(raw: object) -> tuple[tuple[str, str], ...]:
    pairs = []
    for name, value in _bounded_object(raw, "env", "NAME: value", "env variables", MAX_ENV).items():
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
            raise JobRejected(f"env name {str(name)[:NAME_SHOWN]!r} is not allowed: use letters, digits and _ "
                              f"(not starting with a digit), at most 64 characters", field="env")
        if SECRET_NAME.search(name):
            raise JobRejected(f"env name {name!r} looks like a secret; the job spec travels through the broker "
                              f"and the result backend, so secrets must not be passed in it", field=f"env.{name}")
        pairs.append((name, _check_text(value, f"env.{name}", MAX_ENV_VALUE_LENGTH)))
    return tuple(pairs)


def parse_spec(raw: object, maxima: Limits) -> JobSpec:
    """Validate a job spec as it came off the wire; the returned spec is safe to act on."""
    if not isinstance(raw, Mapping):
        raise JobRejected(f"a job spec must be an object, not {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in FIELDS)
    if unknown:
        raise JobRejected(f"unknown field(s) {shown_names(unknown)} in the job spec; allowed fields are {', '.join(FIELDS)}",
                          field=unknown[0][:NAME_SHOWN])
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise JobRejected(f"the job spec is missing {', '.join(missing)}", field=missing[0])
    image = _check_text(raw["image"], "image", MAX_IMAGE_NAME_LENGTH)
    if not IMAGE_REF.fullmatch(image):
        raise JobRejected(f"image {image[:80]!r} is not an image name or id", field="image")
    return JobSpec(
        user_id=check_name(raw["user_id"], "user_id"),
        project=check_name(raw["project"], "project"),
        image=image,
        command=_command(raw["command"]),
        inputs=_inputs(raw.get("inputs")),
        env=_env(raw.get("env")),
        limits=resolve_limits(raw.get("limits"), maxima),
    )

