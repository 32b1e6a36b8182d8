"""Where labs keep their files, and which lab an inventory belongs to.

Standard library only: clients ask this on every command (`find_inventory`), and the
rest of the lab package needs the docker SDK.
"""

from __future__ import annotations

import os
from pathlib import Path

LAB_ROOT = Path("/var/lib/raftkube-lab")


def find_inventory() -> Path | None:
    """The inventory of the lab that is up: the only one, or the one named `lab`."""
    if not LAB_ROOT.is_dir():
        return None
    ups = sorted(p.parent for p in LAB_ROOT.glob("*/lab.json") if (p.parent / "inventory.ini").exists())
    if len(ups) == 1:
        return ups[0] / "inventory.ini"
    default = LAB_ROOT / "lab" / "inventory.ini"
    return default if default.exists() else None


def lab_of_inventory(path: str | os.PathLike | None) -> str | None:
    """NAME when `path` lies in `/var/lib/raftkube-lab/NAME/` (how `lab up` printed it)."""
    if not path:
        return None
    resolved = Path(os.path.abspath(path))
    try:
        relative = resolved.relative_to(LAB_ROOT)
    except ValueError:
        return None
    return relative.parts[0] if len(relative.parts) >= 2 else None


def default_lab_name() -> str:
    """The lab `lab` subcommands act on without --name: the one RAFTKUBE_INVENTORY points
    into, else `lab`."""
    return lab_of_inventory(os.environ.get("RAFTKUBE_INVENTORY")) or "lab"
