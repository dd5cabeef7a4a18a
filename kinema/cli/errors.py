"""Errors the command line reports as one line with exit status 2."""


class UsageError(Exception):
    """Bad input found before any heavy work: printed as one line, exit status 2."""
