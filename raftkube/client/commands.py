"""Client commands: apply, get, delete, cluster status ... (talk to the masters' HTTP API)."""

import click

COMMANDS: list[click.Command] = []
