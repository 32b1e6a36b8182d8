"""The `raftkube` command: one click group, each subcommand lives beside what it drives.

Subcommands are imported only when they run: `raftkube get pods` must not pay for the
docker SDK, fabric or pysyncobj, which the lab, setup and the master need. So the group
knows each command by the module that defines it and a one-line help for `--help`.
"""

import logging
import sys

import click

from raftkube.errors import UserError

# name -> ("module:attribute", short help shown by `raftkube --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "apply": ("raftkube.client.applying:apply", "Create or update objects from manifests (three-way)."),
    "diff": ("raftkube.client.applying:diff", "Show what `apply -f FILE` would change (exit 1 if anything, 2 on an error)."),
    "get": ("raftkube.client.commands:get", "Show one object, or list (and watch) objects of a kind."),
    "describe": ("raftkube.client.commands:describe", "Show one object in detail, with its recent events."),
    "delete": ("raftkube.client.commands:delete", "Delete objects by name, by -f FILE, or by -l SELECTOR."),
    "label": ("raftkube.client.commands:label", "Set (k=v) or remove (k-) labels of an object."),
    "annotate": ("raftkube.client.commands:annotate", "Set (k=v) or remove (k-) annotations of an object."),
    "scale": ("raftkube.client.commands:scale", "Set the desired replica count of a replication controller."),
    "rolling-update": ("raftkube.client.rolling_commands:rolling_update",
                       "Replace a replication controller's pods one at a time (resumable)."),
    "logs": ("raftkube.client.pod_commands:logs", "Print a container's output (-f follows)."),
    "exec": ("raftkube.client.pod_commands:exec_", "Run a command in a pod's container; exits with its code."),
    "cordon": ("raftkube.client.node_commands:cordon", "Mark a node unschedulable."),
    "uncordon": ("raftkube.client.node_commands:uncordon", "Mark a node schedulable again."),
    "drain": ("raftkube.client.node_commands:drain", "Cordon a node and move its pods elsewhere."),
    "cluster": ("raftkube.client.commands:cluster", "The masters: status, adding and removing a master."),
    "kubeconfig": ("raftkube.client.kubeconfig:kubeconfig", "Print a kubeconfig for kubectl and client libraries."),
    "lab": ("raftkube.lab.commands:lab", "A whole cluster on one Linux machine (namespaces, sshd, dockerd)."),
    "master": ("raftkube.master:master", "Run one master replica in the foreground."),
    "setup": ("raftkube.setup:setup", "Prepare every host over SSH and start the masters."),
    "image": ("raftkube.setup:image", "Container images on the nodes."),
}


class _Group(click.Group):
    """Imports a subcommand when it is used, and turns a `UserError` from any of them
    into one line on stderr and its exit code (1 unless the command says otherwise)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, _, attribute = COMMANDS[name][0].partition(":")
        module = __import__(module_name, fromlist=[attribute])
        return getattr(module, attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, *args, **kwargs):
        """Click's own mistakes (a bad option, a missing argument) are user errors too:
        one line naming the command, exit code 1, like every other mistake."""
        kwargs["standalone_mode"] = False
        kwargs.setdefault("prog_name", "raftkube")
        try:
            code = super().main(*args, **kwargs)
        except click.ClickException as exc:
            where = f"{exc.ctx.command_path}: " if getattr(exc, "ctx", None) else ""
            click.echo(f"error: {where}{exc.format_message()}", err=True)
            sys.exit(1)
        except (click.Abort, KeyboardInterrupt):
            sys.exit(130)
        except BrokenPipeError:
            # `raftkube get pods | head`: the reader left; say nothing more.
            sys.stderr.close()
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            if ctx.params.get("verbose"):
                _print_cause(exc)
            sys.exit(exc.exit_code)


def _print_cause(exc: BaseException) -> None:
    """With -v, what lies under a user error (the original exception's chain)."""
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        click.echo(f"  caused by {cause.__class__.__name__}: {cause}", err=True)
        cause = cause.__cause__ or cause.__context__


@click.group(cls=_Group)
@click.option("-v", "--verbose", count=True, help="More logging (repeat for debug).")
def main(verbose: int) -> None:
    """Kubernetes-style orchestration with Raft-replicated masters and agentless hosts."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
