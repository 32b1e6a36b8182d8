"""`raftkube lab`: a whole cluster on one Linux machine."""

import sys

import click

from raftkube.lab.lab import Lab
from raftkube.lab.where import default_lab_name

name_option = click.option(
    "--name", default=default_lab_name, show_default="the lab RAFTKUBE_INVENTORY points into, else lab",
    help="Which lab.")


@click.group()
def lab() -> None:
    """A whole cluster on one Linux machine (network namespaces, sshd, dockerd)."""


@lab.command()
@click.option("--nodes", default=3, show_default=True, type=int)
@click.option("--masters", default=3, show_default=True, type=int)
@click.option("--no-setup", is_flag=True, help="Bare hosts only: do not run `raftkube setup`.")
@name_option
def up(nodes: int, masters: int, no_setup: bool, name: str) -> None:
    """Build the lab (replacing what is left of one with this name); prints the inventory path."""
    inventory = Lab(name).up(nodes=nodes, masters=masters, echo=click.echo, setup=not no_setup)
    click.echo(str(inventory))


@lab.command()
@name_option
def down(name: str) -> None:
    """Remove everything the lab made."""
    Lab(name).down()


@lab.command()
@click.argument("host")
@name_option
def stop(host: str, name: str) -> None:
    """Kill everything on HOST at once, like pulling the plug."""
    Lab(name).stop(host)


@lab.command()
@click.argument("host")
@name_option
def start(host: str, name: str) -> None:
    """Power HOST back on, its disk state intact."""
    Lab(name).start(host)


@lab.command()
@click.argument("host")
@name_option
def partition(host: str, name: str) -> None:
    """Cut HOST's network link."""
    Lab(name).partition(host)


@lab.command()
@click.argument("host")
@name_option
def heal(host: str, name: str) -> None:
    """Restore HOST's network link."""
    Lab(name).heal(host)


@lab.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("host")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@name_option
def exec_(host: str, command: tuple[str, ...], name: str) -> None:
    """Run COMMAND inside HOST (DOCKER_HOST names its engine); exits with COMMAND's code."""
    sys.exit(Lab(name).exec(host, list(command)).returncode)
