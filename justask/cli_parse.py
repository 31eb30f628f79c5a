"""Command lines from config dataclasses (tyro): flags, defaults and help come from the fields and
their docstrings; nested configs give dotted flags (``--train.steps 100``); ``--config FILE``
(YAML or JSON, or a run's ``config.json``) sets defaults that flags then override. Every parse
error is one ``JustAskError`` line, never tyro's box.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypeVar

from justask.configs import read_config_file
from justask.errors import JustAskError

T = TypeVar("T")


def _flag(argument: Any) -> str:
    try:
        return "/".join(argument.lowered.name_or_flags) or str(argument.lowered.metavar)
    except AttributeError:
        return str(argument)


def _message(event: Any) -> str:
    """One line for a tyro parse-error event (tyro._errors.ParseErrorEvent)."""
    from tyro import _errors as te

    prog = event.prog
    if isinstance(event, te.BadValue):
        value = f" '{event.offending_value}'" if event.offending_value is not None else ""
        return f"{_flag(event.argument)}{value}: {event.reason}"
    if isinstance(event, te.InvalidChoice):
        return f"{_flag(event.argument)}: '{event.value}' is not one of {', '.join(event.choices)}"
    if isinstance(event, te.UnrecognizedArgs):
        return f"unrecognized argument(s) {' '.join(event.tokens)} (see {prog} --help)"
    if isinstance(event, te.MissingArgs):
        names = ", ".join(_flag(a.arg) for a in event.missing_arguments)
        return f"missing {names} (see {prog} --help)"
    if isinstance(event, te.InstantiationFailure):
        if event.argument is None:
            return event.message
        flag, message = _flag(event.argument), event.message
        metavar = str(getattr(event.argument.lowered, "metavar", "") or "")
        wanted = {"INT": "a whole number", "FLOAT": "a number"}.get(metavar.split()[0] if metavar else "")
        found = re.search(r"'(.*)'\s*$", message)
        if wanted and found and ("invalid literal" in message or "could not convert" in message):
            return f"{flag} takes {wanted}, got '{found.group(1)}'"
        return f"{flag}: {message}"
    return f"{type(event).__name__} (see {prog} --help)"


def _raise(event: Any) -> None:
    raise JustAskError(_message(event))


def split_config_flag(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """``--config FILE`` (or ``--config=FILE``) taken out of ``args``."""
    rest, path = [], None
    items = list(args)
    i = 0
    while i < len(items):
        token = items[i]
        if token == "--config":
            if i + 1 >= len(items):
                raise JustAskError("--config needs a file (YAML or JSON)")
            path, i = items[i + 1], i + 2
            continue
        if token.startswith("--config="):
            path = token.split("=", 1)[1]
        else:
            rest.append(token)
        i += 1
    return path, rest


def parse(cls: type[T], args: Sequence[str], prog: str, description: str | None = None, default: T | None = None) -> T:
    """``cls`` from command-line ``args`` on top of ``default`` (or of ``--config FILE``);
    errors as one line."""
    import tyro
    from tyro import _errors

    path, rest = split_config_flag(args)
    if path:
        default = read_config_file(path, cls)
    with _errors.on_parse_error(_raise):
        return tyro.cli(cls, args=rest, prog=prog, default=default, description=description)


def help_text(cls: type, prog: str, description: str | None = None) -> str:
    """What ``prog --help`` prints."""
    import contextlib
    import io

    import tyro

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        tyro.cli(cls, args=["--help"], prog=prog, description=description)
    return out.getvalue()
