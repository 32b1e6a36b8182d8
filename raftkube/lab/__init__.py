"""raftkube.lab: a whole cluster on one Linux machine (namespaces, sshd, dockerd)."""

from raftkube.lab.lab import Lab, LabError, find_inventory

__all__ = ["Lab", "LabError", "find_inventory"]
