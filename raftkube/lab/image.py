"""The lab's `busybox` image, built from Debian's busybox-static (no registry is reachable)."""

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import docker

BUSYBOX = Path("/bin/busybox")
IMAGE = "busybox:latest"
# Enough of a root filesystem for shells, sleep loops, httpd and nc.
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\n"


def build_rootfs_tar(cache_dir: Path) -> Path:
    """A tar of a busybox root filesystem, cached by the busybox binary's hash."""
    if not BUSYBOX.exists():
        raise FileNotFoundError(f"{BUSYBOX} is missing: install Debian's busybox-static")
    binary = BUSYBOX.read_bytes()
    digest = hashlib.sha256(binary).hexdigest()[:16]
    target = cache_dir / f"busybox-rootfs-{digest}.tar"
    if target.exists():
        return target
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True)
    partial = target.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:
        for directory in ("bin", "etc", "tmp", "root", "proc", "sys", "dev", "var", "var/www", "usr", "usr/bin"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(binary)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(binary))
        for applet in applets.stdout.split():
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        for name, content in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    partial.rename(target)
    return target


def import_busybox(docker_host: str, rootfs_tar: Path) -> str:
    """Import the rootfs into one engine as busybox:latest; returns the image id."""
    client = docker.DockerClient(base_url=docker_host, timeout=60)
    try:
        client.api.import_image_from_file(
            str(rootfs_tar), repository="busybox", tag="latest", changes=['CMD ["sh"]'],
        )
        return client.images.get(IMAGE).id
    finally:
        client.close()
