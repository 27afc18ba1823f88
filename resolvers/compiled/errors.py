"""The compiler's one exception."""


class NotCompilable(Exception):
    """The document (or this request's variables) needs the interpreter."""
