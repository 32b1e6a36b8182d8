"""The `raftkube` command: one click group, each subcommand lives beside what it drives."""

import logging
import sys

import click

from raftkube.errors import UserError


class _Group(click.Group):
    """Turns a `UserError` from any subcommand into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.option("-v", "--verbose", count=True, help="More logging (repeat for debug).")
def main(verbose: int) -> None:
    """Kubernetes-style orchestration with Raft-replicated masters and agentless hosts."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def _register() -> None:
    from raftkube.client.commands import COMMANDS as client_commands
    from raftkube.lab.commands import lab
    from raftkube.master import master
    from raftkube.setup import COMMANDS as setup_commands

    main.add_command(lab)
    main.add_command(master)
    for command in [*client_commands, *setup_commands]:
        main.add_command(command)


_register()
