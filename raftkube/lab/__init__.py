"""raftkube.lab: a whole cluster on one Linux machine (namespaces, sshd, dockerd).

`Lab` and `LabError` are loaded on first use: they need the docker SDK, which a client
asking `find_inventory` (in `where`, stdlib only) should not pay for.
"""

from raftkube.lab.where import find_inventory

__all__ = ["Lab", "LabError", "find_inventory"]


def __getattr__(name: str):
    if name in ("Lab", "LabError"):
        from raftkube.lab import lab

        return getattr(lab, name)
    raise AttributeError(f"module 'raftkube.lab' has no attribute {name!r}")
