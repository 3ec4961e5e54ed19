"""Building the default job image locally from Debian packages: mmdebstrap, then ``docker import``.

No registry is needed (or reachable on many worker nodes). The recipe's hash is stored as a label, so a
second build with the same recipe finds and reuses the image instead of spending half a minute on it.
The printed image id is what the allow-list pins.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..errors import SandboxError, ServiceError

RECIPE_LABEL = "cloudai.sandbox.recipe"
DEFAULT_TAG = "cloudai-sandbox/python:bookworm"
#: Bumped whenever the build steps change in a way the fields below do not capture.
RECIPE_VERSION = 1
EXCLUDED_PATHS = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")


@dataclasses.dataclass(frozen=True)
class Recipe:
    suite: str = "bookworm"
    variant: str = "essential"
    #: ``python3`` rather than ``python3-minimal``: jobs expect the standard library (json, sqlite3, ...).
    packages: tuple[str, ...] = ("python3",)

    def digest(self) -> str:
        blob = json.dumps({"version": RECIPE_VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def changes(self) -> list[str]:
        """Dockerfile instructions applied on import: metadata only, no VOLUME, a non-root default user."""
        return [f"LABEL {RECIPE_LABEL}={self.digest()}", "USER 65534:65534", "WORKDIR /tmp",
                "ENV LANG=C.UTF-8", 'CMD ["python3"]']


@dataclasses.dataclass(frozen=True)
class BuiltImage:
    id: str
    tag: str
    reused: bool


def find_built(api: Any, recipe: Recipe) -> str | None:
    """The id of an image already built from ``recipe`` on this daemon, if any."""
    images = api.images(filters={"label": f"{RECIPE_LABEL}={recipe.digest()}"})
    return images[0]["Id"] if images else None


def _mmdebstrap(recipe: Recipe, tarball: Path) -> None:
    binary = shutil.which("mmdebstrap")
    if binary is None:
        raise ServiceError("mmdebstrap is not installed; install it with `apt-get install mmdebstrap`")
    argv = [binary, f"--variant={recipe.variant}", "--include=" + ",".join(recipe.packages),
            *(f"--dpkgopt=path-exclude={p}" for p in EXCLUDED_PATHS), "--quiet", recipe.suite, str(tarball)]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SandboxError(f"mmdebstrap failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")


def build_image(api: Any, recipe: Recipe = Recipe(), *, tag: str = DEFAULT_TAG, force: bool = False) -> BuiltImage:
    """Build (or reuse) the image for ``recipe``, tag it, and return its id."""
    import docker.errors

    repository, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
    existing = None if force else find_built(api, recipe)
    if existing is not None:
        api.tag(existing, repository, version)
        return BuiltImage(existing, tag, reused=True)
    with tempfile.TemporaryDirectory(prefix="cloudai-image-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        _mmdebstrap(recipe, tarball)
        try:
            api.import_image_from_file(str(tarball), repository=repository, tag=version, changes=recipe.changes())
            image_id = api.inspect_image(tag)["Id"]
        except docker.errors.DockerException as e:
            raise SandboxError(f"docker import of the built root filesystem failed: {e}") from e
    return BuiltImage(image_id, tag, reused=False)
