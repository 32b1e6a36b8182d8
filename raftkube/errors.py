"""Errors a user can act on.

Every layer raises a subclass of `UserError` for problems the user caused or can fix
(bad input, a host that does not answer, no quorum). The CLI prints its message as one
line on stderr and exits with its `exit_code` (1 unless a command says otherwise);
anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A failure with a message meant for the user, shown as one line."""

    exit_code = 1
