"""Errors a tool reports as one line and a non-zero exit, never a traceback."""


class SetupError(Exception):
    """The machine cannot run the tool as asked (exit status 1)."""


class UsageError(Exception):
    """The command line asks for something impossible (exit status 2)."""
