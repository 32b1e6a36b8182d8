"""`raftkube setup` and `raftkube image load`: prepare hosts over SSH, start the masters."""

import click

COMMANDS: list[click.Command] = []
