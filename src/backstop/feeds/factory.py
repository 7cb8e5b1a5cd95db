"""One entry point for the CLI and server: a feed by kind name (`backstop serve --feed replay`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backstop.feeds.base import Feed
from backstop.feeds.manual import ManualFeed
from backstop.feeds.replay import ReplayFeed, Source, Speed, load_history, parse_speed
from backstop.feeds.synthetic import DEFAULT_PROCESSES, SyntheticFeed

FEED_KINDS = ("replay", "synthetic", "manual")


def make_feed(
    kind: str,
    *,
    start_us: int | None = None,
    speed: Speed = 1,
    seed: int = 0,
    sources: Iterable[Source] | None = None,
    coins: Iterable[str] | None = None,
    **options: Any,
) -> Feed:
    """A feed of `kind` ("replay", "synthetic" or "manual").

    - replay: the shipped sample, or the CSV files in `sources`, limited to `coins`. With
      `start_us` (the live clock's now) history is rebased to start then and run `speed` times as
      fast; without it the feed answers in history's own time. Options: history_start_us,
      max_stale_us.
    - synthetic: DEFAULT_PROCESSES (or options["processes"]) limited to `coins`, seeded by `seed`,
      starting at `start_us` (None: the first time asked). Options: grid_us, correlation.
    - manual: nothing quoted until the operator sets prices. Option: prices.

    `speed` means something only for a replay; another kind refuses a speed other than 1.
    """
    if kind not in FEED_KINDS:
        raise ValueError(f"unknown feed {kind!r}: choose one of {', '.join(FEED_KINDS)}")
    if kind != "replay" and parse_speed(speed) != 1:
        raise ValueError(f"speed applies to a replay, not to a {kind} feed")
    if kind == "replay":
        chosen = None if coins is None else list(coins)
        history = load_history(sources, coins=chosen)
        if start_us is None:
            return ReplayFeed(history, coins=chosen, **options)
        return ReplayFeed.live(history, start_us=start_us, speed=speed, coins=chosen, **options)
    if kind == "synthetic":
        processes = options.pop("processes", DEFAULT_PROCESSES)
        if coins is not None:
            wanted = set(coins)
            unknown = wanted - set(processes)
            if unknown:
                raise ValueError(f"no synthetic process for {', '.join(sorted(unknown))}")
            processes = {c: p for c, p in processes.items() if c in wanted}
        return SyntheticFeed(processes, seed=seed, origin_us=start_us, **options)
    return ManualFeed(**options)
