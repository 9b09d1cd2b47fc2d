"""The one error type users see: a one-line message naming the problem and the fix (CLI exit status 2)."""


class GreenknobsError(Exception):
    """Bad input or an impossible request. The message says what is wrong and how to fix it."""
