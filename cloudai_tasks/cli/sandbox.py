"""``cloudai sandbox build-image|reap``: the job image and leftover job containers on this node."""
from __future__ import annotations

import click

from ..settings import Settings


@click.group()
def sandbox() -> None:
    """Job images and leftover job containers on this Docker daemon."""


@sandbox.command("build-image")
@click.option("--tag", default=None, help="Tag for the image (default cloudai-sandbox/python:<suite>).")
@click.option("--suite", default="bookworm", show_default=True, help="Debian release to build from.")
@click.option("--package", "packages", multiple=True, help="Extra Debian package to include (repeatable).")
@click.option("--force", is_flag=True, help="Build again even if an image of the same recipe exists.")
@click.option("--allow", "allow_as", metavar="NAME", default=None,
              help="Also allow-list it under NAME in <home>/settings.toml (replaces the whole allow-list).")
def build_image(tag: str | None, suite: str, packages: tuple[str, ...], force: bool, allow_as: str | None) -> None:
    """Build the default Python job image from Debian packages (mmdebstrap + docker import); print its id."""
    from ..sandbox.docker_api import connect
    from ..sandbox.image_build import Recipe
    from ..sandbox.image_build import build_image as build

    settings = Settings.from_env()
    recipe = Recipe(suite=suite, packages=(*Recipe().packages, *packages))
    built = build(connect(settings.docker_url).api, recipe, tag=tag or f"cloudai-sandbox/python:{suite}", force=force)
    if allow_as:
        from ..sandbox.allow_list import AllowList
        from ..settings_file import set_setting

        value = f"{allow_as}={built.id}"
        AllowList.parse(value)  # refuse a bad name before writing it
        click.echo(f"allow-listed in {set_setting(settings.home, 'sandbox_images', value)}", err=True)
    click.echo(f"{'reused' if built.reused else 'built'} {built.tag}; allow-list it with "
               f"CLOUDAI_SANDBOX_IMAGES=python={built.id}", err=True)
    click.echo(built.id)


@sandbox.command()
def reap() -> None:
    """Remove job containers whose worker is gone or whose deadline has passed (workers also do this)."""
    from ..sandbox.docker_api import connect
    from ..sandbox.reaper import reap_containers

    removed = reap_containers(connect(Settings.from_env().docker_url).api)
    for r in removed:
        click.echo(f"removed {r.container_id[:12]} (task {r.task_id}): {r.why}")
    click.echo(f"{len(removed)} leftover container(s) removed")
