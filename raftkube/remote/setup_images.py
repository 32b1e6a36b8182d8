"""Copying a local container image to the nodes' engines over SSH (no registry needed).

The image is saved once from the local engine into a temporary tarball, then streamed
through each node's SSH connection into `docker load` there, the node's engine named by
DOCKER_HOST in the remote command's environment.
"""

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import fabric

from raftkube.errors import UserError
from raftkube.remote.inventory import Host
from raftkube.remote.ssh import feed, file_chunks, run

log = logging.getLogger(__name__)


class ImageError(UserError):
    """The image cannot be read from the local engine."""


@dataclass(frozen=True)
class SavedImage:
    """An image exported from the local engine: its name, id and tarball."""

    name: str
    id: str
    tarball: Path

    @property
    def size(self) -> int:
        return self.tarball.stat().st_size


@contextlib.contextmanager
def saved_image(name: str, docker_host: str | None) -> Iterator[SavedImage]:
    """`docker save` of `name` from the local engine (DOCKER_HOST or `docker_host`), removed after."""
    try:
        client = docker.DockerClient(base_url=docker_host) if docker_host else docker.from_env()
    except docker.errors.DockerException as exc:
        raise ImageError(f"no local Docker engine at {docker_host or 'DOCKER_HOST/default'}: {exc}") from None
    with contextlib.closing(client), tempfile.TemporaryDirectory(prefix="raftkube-image-") as tmp:
        try:
            image = client.images.get(name)
            tarball = Path(tmp) / "image.tar"
            # Save under the tag asked for, so the node gets that name too (not just the id).
            named = next((t for t in (name, f"{name}:latest") if t in image.tags), False)
            with open(tarball, "wb") as f:
                for chunk in image.save(named=named):
                    f.write(chunk)
        except docker.errors.ImageNotFound:
            raise ImageError(f"image {name} is not in the local engine (docker pull or build it first)") from None
        except docker.errors.DockerException as exc:
            raise ImageError(f"cannot export image {name} from the local engine: {exc}") from None
        yield SavedImage(name, image.id, tarball)


def remote_image_id(conn: fabric.Connection, host: Host, name: str) -> str | None:
    """The id `name` has in the node's engine, or None if it has no such image."""
    argv = ["docker", "image", "inspect", "--format", "{{.Id}}", name]
    result = run(conn, argv, env={"DOCKER_HOST": host.docker_host}, check=False, timeout=30)
    return result.stdout.strip() if result.exited == 0 else None


def load_image(conn: fabric.Connection, host: Host, image: SavedImage, report: Callable[[str], None]) -> bool:
    """Stream the image into the node's engine unless it already has it; True if loaded."""
    short = image.id.removeprefix("sha256:")[:12]
    if remote_image_id(conn, host, image.name) == image.id:
        report(f"{image.name} ({short}) already present")
        return False
    report(f"loading {image.name} ({short}, {image.size / 1e6:.1f} MB)")
    started = time.monotonic()
    feed(conn, ["docker", "load", "-q"], file_chunks(image.tarball), env={"DOCKER_HOST": host.docker_host}, timeout=600)
    if remote_image_id(conn, host, image.name) != image.id:
        raise UserError(f"host {host.name}: docker load finished but {image.name} is not {short} there")
    report(f"{image.name} loaded in {time.monotonic() - started:.1f}s")
    return True
