"""The one error type users see: a single line naming the file/record and the cause."""


class SoulError(Exception):
    """A user-facing error; the CLI prints it as one line, never a traceback."""
