"""Job spec validation: everything is checked before anything runs, and refusals say what to fix."""
from __future__ import annotations

import base64

import pytest

from cloudai_tasks.errors import JobRejected
from cloudai_tasks.sandbox.limits import DEFAULT_MAXIMA, Limits, parse_maxima
from cloudai_tasks.sandbox.spec import MAX_INPUT_BYTES, encode_input, parse_spec

MAXIMA = parse_maxima("wall_seconds=600,memory_mb=1024,cpus=2")


def spec(**overrides):
    base = {"user_id": "alice", "project": "p1", "image": "python", "command": ["python3", "-c", "print(1)"]}
    base.update(overrides)
    return base


def test_a_minimal_spec_gets_the_default_limits():
    parsed = parse_spec(spec(), MAXIMA)
    assert parsed.command == ("python3", "-c", "print(1)")
    assert parsed.limits == Limits()
    assert parsed.inputs == () and parsed.env == ()


@pytest.mark.parametrize("field,value", [
    ("user_id", "../bob"), ("user_id", "a/b"), ("user_id", ".."), ("user_id", "a\x00b"), ("user_id", "x" * 65),
    ("user_id", ""), ("user_id", 7), ("project", "-rf"), ("project", "p\n1"), ("project", "é"),
])
def test_ids_must_be_one_safe_path_component(field, value):
    with pytest.raises(JobRejected) as e:
        parse_spec(spec(**{field: value}), MAXIMA)
    assert e.value.field == field


def test_unknown_and_missing_fields_are_refused():
    with pytest.raises(JobRejected, match="unknown field.*'privileged'") as e:
        parse_spec({**spec(), "privileged": True}, MAXIMA)
    assert e.value.field == "privileged"
    with pytest.raises(JobRejected, match="missing command"):
        parse_spec({k: v for k, v in spec().items() if k != "command"}, MAXIMA)
    with pytest.raises(JobRejected, match="must be an object"):
        parse_spec(["python3"], MAXIMA)


@pytest.mark.parametrize("command", [[], "python3 -c 1", [""], ["ok", 3], ["a\x00b"], ["x"] * 257,
                                     ["x" * 4097], ["\udc80"]])
def test_command_must_be_a_bounded_argv_list(command):
    with pytest.raises(JobRejected) as e:
        parse_spec(spec(command=command), MAXIMA)
    assert e.value.field.startswith("command")


def test_limits_above_the_maxima_or_unknown_are_refused_with_the_maximum():
    with pytest.raises(JobRejected, match=r"memory_mb=2048 is outside 16\.\.1024.*at most 1024"):
        parse_spec(spec(limits={"memory_mb": 2048}), MAXIMA)
    with pytest.raises(JobRejected, match="unknown limit.*'swap_mb'"):
        parse_spec(spec(limits={"swap_mb": 1}), MAXIMA)
    for bad in (True, "10", 1.5, None):
        with pytest.raises(JobRejected, match="wall_seconds"):
            parse_spec(spec(limits={"wall_seconds": bad}), MAXIMA)
    with pytest.raises(JobRejected, match="pids"):
        parse_spec(spec(limits={"pids": 0}), MAXIMA)
    assert parse_spec(spec(limits={"cpus": 0.5, "wall_seconds": 600}), MAXIMA).limits.cpus == 0.5


def test_defaults_are_clamped_to_lower_node_maxima():
    small = parse_maxima("memory_mb=100,wall_seconds=30")
    assert parse_spec(spec(), small).limits.memory_mb == 100
    assert parse_spec(spec(), small).limits.wall_seconds == 30


def test_inputs_are_small_named_files_text_or_base64():
    binary = bytes(range(256))
    parsed = parse_spec(spec(inputs={"a.txt": "héllo", "b.bin": encode_input(binary)}), MAXIMA)
    assert dict(parsed.inputs) == {"a.txt": "héllo".encode(), "b.bin": binary}
    assert encode_input(binary) == {"base64": base64.b64encode(binary).decode()}

    with pytest.raises(JobRejected, match="larger than"):
        parse_spec(spec(inputs={"a": "x" * (MAX_INPUT_BYTES // 2), "b": "y" * (MAX_INPUT_BYTES // 2 + 1)}), MAXIMA)
    for name in ("../x", "sub/x", ".hidden", "a\x00"):
        with pytest.raises(JobRejected, match="input file name"):
            parse_spec(spec(inputs={name: "x"}), MAXIMA)
    with pytest.raises(JobRejected, match="base64"):
        parse_spec(spec(inputs={"a": {"base64": "not base64!"}}), MAXIMA)
    with pytest.raises(JobRejected, match="inputs.a"):
        parse_spec(spec(inputs={"a": 12}), MAXIMA)


def test_env_names_are_validated_and_secrets_are_refused_without_echoing_values():
    assert parse_spec(spec(env={"MODE": "fast", "N_ITER": "3"}), MAXIMA).env == (("MODE", "fast"), ("N_ITER", "3"))
    for name in ("1X", "A-B", "A B", "", "X" * 65):
        with pytest.raises(JobRejected, match="env name"):
            parse_spec(spec(env={name: "v"}), MAXIMA)
    for name in ("API_KEY", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "aws_credentials"):
        with pytest.raises(JobRejected, match="looks like a secret") as e:
            parse_spec(spec(env={name: "hunter2-value"}), MAXIMA)
        assert "hunter2-value" not in str(e.value)
    with pytest.raises(JobRejected, match="env.MODE"):
        parse_spec(spec(env={"MODE": 3}), MAXIMA)


def test_image_must_look_like_an_image_reference():
    for image in ("", "--privileged", "a b", "x" * 201):
        with pytest.raises(JobRejected) as e:
            parse_spec(spec(image=image), MAXIMA)
        assert e.value.field == "image"


def test_default_maxima_are_within_what_the_node_has():
    assert DEFAULT_MAXIMA.cpus >= 1
    assert parse_maxima("") == DEFAULT_MAXIMA


@pytest.mark.parametrize("field,value,message", [
    ("inputs", ["a.txt"], "inputs must be an object"), ("env", "MODE=x", "env must be an object"),
    ("inputs", {f"f{i}": "" for i in range(65)}, "65 inputs given; at most 64"),
    ("env", {f"V{i}": "" for i in range(65)}, "65 env variables given; at most 64"),
])
def test_inputs_and_env_must_be_bounded_objects(field, value, message):
    with pytest.raises(JobRejected, match=message) as e:
        parse_spec(spec(**{field: value}), MAXIMA)
    assert e.value.field == field


def test_unknown_field_names_are_echoed_bounded():
    many = {**spec(), **{f"extra{i}": 1 for i in range(50)}, "k" * 10_000: 1}
    with pytest.raises(JobRejected, match="unknown field") as e:
        parse_spec(many, MAXIMA)
    assert len(str(e.value)) < 1000 and len(e.value.field) <= 70
