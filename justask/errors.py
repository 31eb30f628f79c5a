"""The one exception type users see for bad input: the CLI prints its message on one line."""


class JustAskError(ValueError):
    """Bad input from the user (a dataset, a checkpoint, a condition, an env id).

    The message names the thing that is wrong and what was expected instead.
    """
