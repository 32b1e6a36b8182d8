"""`raftkube lab`: a whole cluster on one Linux machine."""

import click


@click.group()
def lab() -> None:
    """A whole cluster on one Linux machine (network namespaces, sshd, dockerd)."""
