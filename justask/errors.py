"""The one exception type users see for bad input: the CLI prints its message on one line."""


class JustAskError(ValueError):
    """Bad input from the user (a dataset, a checkpoint, a condition, an env id).

    The message names the thing that is wrong and what was expected instead.
    """


class JustAskWarning(UserWarning):
    """Something the user asked for was changed to something that can be done (e.g. a request
    above what a model can honour, mapped to the highest it can); the CLI prints it as one
    ``justask: warning: ...`` line."""
