"""The image allow-list: job images are named in the settings and pinned by image id or repository digest.

A job names an image; the worker runs the pinned id, never the tag, so re-tagging an image on the node
cannot change what jobs run, and nothing is ever pulled: an allow-listed image that is not present fails
the job with an error that says how to build it.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..errors import ConfigError, JobRejected, SandboxError

IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
REPO_DIGEST = re.compile(r"[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}")
ENTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
SETTING = "CLOUDAI_SANDBOX_IMAGES"


@dataclasses.dataclass(frozen=True)
class PinnedImage:
    name: str
    ref: str

    @property
    def by_id(self) -> bool:
        return IMAGE_ID.fullmatch(self.ref) is not None


@dataclasses.dataclass(frozen=True)
class AllowList:
    images: tuple[PinnedImage, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "AllowList":
        """``NAME=sha256:ID`` or ``NAME=REPO@sha256:DIGEST`` entries, comma separated; a bare pin names itself."""
        images: list[PinnedImage] = []
        for entry in filter(None, (part.strip() for part in text.split(","))):
            name, sep, ref = (part.strip() for part in entry.partition("="))
            if not sep:
                ref = name
            elif not ENTRY_NAME.fullmatch(name):
                raise ConfigError(f"{SETTING}: {name!r} is not a usable image name", setting=SETTING)
            if not (IMAGE_ID.fullmatch(ref) or REPO_DIGEST.fullmatch(ref)):
                raise ConfigError(f"{SETTING}: {name} must be pinned as sha256:<64 hex> (image id, shown by "
                                  f"`cloudai sandbox build-image`) or REPO@sha256:<digest>, not {ref!r}",
                                  setting=SETTING)
            if any(image.name == name for image in images):
                raise ConfigError(f"{SETTING} names {name!r} twice", setting=SETTING)
            images.append(PinnedImage(name, ref))
        return cls(tuple(images))

    def pin_for(self, requested: str) -> PinnedImage:
        """The pinned image a job may use under the name (or pin) it asked for; refused if not listed."""
        for image in self.images:
            if requested in (image.name, image.ref):
                return image
        if not self.images:
            raise JobRejected(f"image {requested!r} is not allowed: no image is allow-listed on this worker "
                              f"(the operator sets {SETTING})", field="image")
        names = ", ".join(image.name for image in self.images)
        raise JobRejected(f"image {requested!r} is not on this worker's allow-list; use one of: {names}",
                          field="image")


_resolved: dict[str, str] = {}


def resolve_image(api: Any, image: PinnedImage) -> str:
    """The local image id for an allow-listed pin, checked against the pin; never pulls.

    Images that declare VOLUMEs are refused: Docker would give the job an anonymous, uncapped, writable
    host directory for each one.
    """
    if image.ref in _resolved:
        return _resolved[image.ref]
    import docker.errors

    try:
        info = api.inspect_image(image.ref)
    except docker.errors.ImageNotFound:
        raise SandboxError(f"image {image.name} ({image.ref}) is allow-listed but not present on this worker; "
                           f"images are never pulled: build it here with `cloudai sandbox build-image` or "
                           f"`docker load` it") from None
    except docker.errors.DockerException as e:
        raise SandboxError(f"could not inspect image {image.name}: {e}") from e
    matches = info.get("Id") == image.ref if image.by_id else image.ref in (info.get("RepoDigests") or [])
    if not matches:
        raise SandboxError(f"local image for {image.name} does not match its pin {image.ref}; refusing to run it")
    if (info.get("Config") or {}).get("Volumes"):
        raise SandboxError(f"image {image.name} declares VOLUMEs, which would give jobs uncapped writable host "
                           f"storage; rebuild it without VOLUME")
    _resolved[image.ref] = info["Id"]
    return info["Id"]
