"""What the `backstop` command line accepts: its command classes and its number parsing.

Every value a user types is checked here before anything is read or written, and every refusal
is one plain sentence on stderr (`error: ...`, exit status 1), never a Python exception's text.
Numbers are read by the API's own parser (`server/params.py`): plain ASCII decimals (`-1`, `0.5`,
`2e3`), no digit separators, no other scripts' digits, no spaces; and they are bounded, so whatever
the CLI accepts the engine, the journal and the history tables can hold.
"""

from __future__ import annotations

import difflib
import re
import sys
from decimal import Decimal
from typing import Any, NoReturn

import click

from backstop.engine.amounts import ATOM, MAX_ATOMS
from backstop.engine.commands import INT_MAX
from backstop.feeds.base import utc_us
from backstop.journal.recovery import RecoveryError
from backstop.server import params
from backstop.server.envelope import ApiError

NEGATIVE = re.compile(r"-[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
"""A negative number on the command line: an argument, not an option."""
LARGEST = Decimal(MAX_ATOMS) / ATOM
"""The largest amount, size or price the CLI takes (10 billion): the engine's own bound on one
command, which keeps every value it stores in 64 bits."""


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def decimal(text: str, what: str) -> Decimal | None:
    """`text` as the API would read the number, or None when it is not one."""
    try:
        return params.decimal(text, what)
    except ApiError:
        return None


def number(text: str, what: str, zero: bool = False) -> Decimal:
    """A positive decimal (or zero, if `zero`) no larger than LARGEST."""
    value = decimal(text, what)
    if value is None:
        fail(f"Invalid parameter {what}: {text!r} is not a number")
    if value < 0 or (value == 0 and not zero):
        fail(f"Invalid parameter {what}: must be {'zero or more' if zero else 'positive'}")
    if value > LARGEST:
        fail(f"Invalid parameter {what}: at most {LARGEST:,}")
    return value


def integer(text: str, what: str, low: int = 0, high: int = INT_MAX) -> int:
    """A whole number from `low` to `high`."""
    if not re.fullmatch(r"-?[0-9]{1,19}", text) or not low <= int(text) <= high:
        fail(f"Invalid parameter {what}: a whole number from {low:,} to {high:,}")
    return int(text)


def speed(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A replay's speed (history seconds per second): a positive number, checked when the
    command line is read, before anything is made; kept as typed (a replay records it)."""
    number = decimal(value, "speed")
    if number is None or not 0 < number <= LARGEST:
        raise click.BadParameter(f"{value!r} is not a positive number of history seconds per second")
    return value


def instant(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """An ISO-8601 UTC time ('2021-05-19T11:30:00Z') as microseconds since the epoch."""
    if value is None:
        return None
    try:
        return utc_us(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a time such as 2021-05-19T11:30:00Z") from None


class Command(click.Command):
    """A command whose arguments may be negative numbers: `-1` is handed to the command (which
    refuses it with a sentence) instead of being read as an unknown option. Tokens that look like
    options and are none are still refused, as click would."""

    ignore_unknown_options = True

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        known = [name for param in self.get_params(ctx) for name in param.opts + param.secondary_opts]
        for token in args:
            if token == "--":
                break
            name = token.split("=", 1)[0]
            if (
                token.startswith("-")
                and len(token) > 1
                and not NEGATIVE.fullmatch(token)
                and name not in known
            ):
                raise click.NoSuchOption(name, possibilities=difflib.get_close_matches(name, known), ctx=ctx)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """The command; a data directory that cannot be started (a product it records is not
        installed...) ends it with the one-line reason, not a traceback."""
        try:
            return super().invoke(ctx)
        except RecoveryError as exc:
            fail(str(exc))


class Group(click.Group):
    """A group whose commands and subgroups are of the classes above."""

    command_class = Command
    group_class = type
