"""The helper as one file: a zipapp of raftkube's host-side code and its dependencies.

Hosts need only python3, so the helper travels with pyroute2, the docker SDK and the
SDK's pure-Python dependencies. Its name is a hash of its content: a host keeps every
version it was sent under that name and the leader uploads only when the name is
missing, so an unchanged helper is never shipped twice and a changed one never mixes
with the old.
"""

import functools
import hashlib
import importlib.util
import io
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# The docker SDK needs requests and its dependencies; all are pure Python (charset_normalizer
# ships optional compiled speedups next to its .py files, and a zip import uses the .py).
DEPENDENCIES = ("pyroute2", "docker", "requests", "urllib3", "idna", "charset_normalizer", "certifi")

# raftkube's own package __init__ files may grow imports the host cannot satisfy, so the
# zipapp gets empty ones; only the helper package, netproxy (stdlib and pyroute2) and a
# few pure-stdlib modules (the protocol, and name and quantity rules so hosts read pods
# exactly as the masters validate them) are shipped as they are.
_EMPTY_INITS = ("raftkube/__init__.py", "raftkube/remote/__init__.py", "raftkube/state/__init__.py")
_OWN_MODULES = ("raftkube/remote/protocol.py", "raftkube/state/names.py", "raftkube/state/quantity.py",
                "raftkube/errors.py")
_MAIN = b"from raftkube.remote.helper.__main__ import main\n\nmain()\n"
# Fixed timestamps and modes: the same sources must give the same bytes, hence the same hash.
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Zipapp:
    """A built helper: its local file and the content hash that names it on hosts."""

    path: Path
    digest: str

    @property
    def name(self) -> str:
        return f"{self.digest}.pyz"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "raftkube" / "helper"


@functools.cache
def helper_zipapp(cache_dir: Path | None = None) -> Zipapp:
    """The helper zipapp for the code installed now, built once and kept in `cache_dir`."""
    files = _collect()
    digest = _digest(files)
    cache_dir = Path(cache_dir or default_cache_dir())
    path = cache_dir / f"{digest}.pyz"
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=".build-", delete=False) as tmp:
            tmp.write(_zip(files))
        os.replace(tmp.name, path)
        log.info("built helper zipapp %s (%d files)", path, len(files))
    return Zipapp(path, digest)


def _collect() -> dict[str, bytes]:
    """Archive name -> content, for everything the helper needs."""
    own_root = Path(__file__).resolve().parents[2]
    files = {name: b"" for name in _EMPTY_INITS}
    files["__main__.py"] = _MAIN
    for name in _OWN_MODULES:
        files[name] = (own_root / name).read_bytes()
    files |= _tree(own_root, own_root / "raftkube" / "remote" / "helper")
    # Rule building and its netlink encoding: pure, run by the helper on each node.
    files |= _tree(own_root, own_root / "raftkube" / "netproxy")
    for package in DEPENDENCIES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"helper dependency {package} is not installed")
        package_dir = Path(next(iter(spec.submodule_search_locations)))
        files |= _tree(package_dir.parent, package_dir)
    return files


def _tree(root: Path, directory: Path) -> dict[str, bytes]:
    files = {}
    for path in directory.rglob("*"):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".so"):
            continue
        files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def _digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:24]


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[name])
    return buf.getvalue()
