"""`raftkube master`: one master replica (Raft state machine + HTTP API), in the foreground."""

import click


@click.command()
@click.option("-i", "--inventory", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="This master's host name in the inventory.")
def master(inventory: str, name: str) -> None:
    """Run one master replica in the foreground."""
    raise click.ClickException("not implemented yet")
