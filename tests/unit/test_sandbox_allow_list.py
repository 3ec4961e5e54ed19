"""The image allow-list: pinned by id or digest, never pulled, no VOLUMEs, refusals before any container."""
from __future__ import annotations

import docker.errors
import pytest

from cloudai_tasks.errors import ConfigError, JobRejected, SandboxError
from cloudai_tasks.sandbox import allow_list
from cloudai_tasks.sandbox.allow_list import AllowList, PinnedImage, resolve_image

ID_A = "sha256:" + "a" * 64
ID_B = "sha256:" + "b" * 64
DIGEST = "registry.example/team/py@sha256:" + "c" * 64


class FakeImages:
    """Answers image inspections from a dict; any other call (a pull, say) fails the test."""

    def __init__(self, images: dict[str, dict]) -> None:
        self.images, self.inspected = images, []

    def inspect_image(self, ref: str) -> dict:
        self.inspected.append(ref)
        if ref not in self.images:
            raise docker.errors.ImageNotFound(f"no such image: {ref}")
        return self.images[ref]


@pytest.fixture(autouse=True)
def fresh_cache():
    allow_list._resolved.clear()
    yield
    allow_list._resolved.clear()


def test_entries_are_pinned_by_id_or_digest():
    listed = AllowList.parse(f"python={ID_A}, {ID_B},tool={DIGEST}")
    assert listed.pin_for("python") == PinnedImage("python", ID_A)
    assert listed.pin_for(ID_A) == PinnedImage("python", ID_A)
    assert listed.pin_for(ID_B) == PinnedImage(ID_B, ID_B)
    assert listed.pin_for("tool").ref == DIGEST


@pytest.mark.parametrize("text", ["python=python:3.11", "python=sha256:abc", "python", f"bad name={ID_A}",
                                  f"python={ID_A},python={ID_B}"])
def test_unpinned_or_malformed_entries_are_a_config_error(text):
    with pytest.raises(ConfigError) as e:
        AllowList.parse(text)
    assert e.value.setting == "CLOUDAI_SANDBOX_IMAGES"


def test_images_not_listed_are_refused_with_the_names_that_are():
    listed = AllowList.parse(f"python={ID_A}")
    for requested in ("busybox", "python:latest", ID_B, ID_A[:19]):
        with pytest.raises(JobRejected, match="use one of: python") as e:
            listed.pin_for(requested)
        assert e.value.field == "image"
    with pytest.raises(JobRejected, match="no image is allow-listed"):
        AllowList.parse("").pin_for("python")


def test_resolution_checks_the_local_image_against_its_pin():
    api = FakeImages({ID_A: {"Id": ID_A, "Config": {}}})
    assert resolve_image(api, PinnedImage("python", ID_A)) == ID_A
    assert resolve_image(api, PinnedImage("python", ID_A)) == ID_A
    assert api.inspected == [ID_A], "a resolved pin is cached per process"


def test_a_missing_image_is_never_pulled():
    with pytest.raises(SandboxError, match="never pulled.*build-image"):
        resolve_image(FakeImages({}), PinnedImage("python", ID_A))


def test_a_mismatching_or_volume_declaring_image_is_refused():
    with pytest.raises(SandboxError, match="does not match its pin"):
        resolve_image(FakeImages({ID_A: {"Id": ID_B, "Config": {}}}), PinnedImage("python", ID_A))
    with pytest.raises(SandboxError, match="does not match its pin"):
        resolve_image(FakeImages({DIGEST: {"Id": ID_A, "RepoDigests": []}}), PinnedImage("tool", DIGEST))
    assert resolve_image(FakeImages({DIGEST: {"Id": ID_A, "RepoDigests": [DIGEST]}}), PinnedImage("t", DIGEST)) == ID_A
    with pytest.raises(SandboxError, match="VOLUME"):
        resolve_image(FakeImages({ID_B: {"Id": ID_B, "Config": {"Volumes": {"/data": {}}}}}),
                      PinnedImage("python", ID_B))
