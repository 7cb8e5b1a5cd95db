"""Accounts (one per subaccount, each its own cross-margin pool), balances and positions.

An account may exclude coins from its collateral (`Account.excluded`, empty by default; FTX's
per-account FTT collateral switch sets it through the FTT product): a positive balance of an
excluded coin then counts 0 wherever collateral is valued (margin.collateral, risk.assess,
liquidation_price), a debt in it still in full. The coins stay the account's (and can still be
sold to cover a USD debt). An account that excludes nothing hashes as before.

Memory: most accounts hold USD and at most one position and have few orders, so an account's
containers (balances, holds, positions, open orders, client ids, closed ids, small provides,
excluded coins) start as one shared empty container each (`NO_COINS`, `NO_POSITIONS`, ...) and
get their own on the first write, which goes through the methods here (`credit`, `reserve`,
`position`, `add_order`, `remember_closed`, `note_small_provide`, `exclude`). Nothing else may
write to an account's containers in place (reading them is free): a write to a shared empty
one would be every account's. tests/property checks they stay empty."""

from __future__ import annotations

from collections.abc import Sized
from typing import Any, Final

from backstop.catalog import USD
from backstop.engine.book import Book
from backstop.engine.fees import NO_DAYS, Volume
from backstop.engine.orders import Order

DEFAULT_LEVERAGE: Final = 10
RECENT_CLOSED: Final = 1000
"""An account remembers at least this many closed order ids, to answer "Order already closed"."""

# The shared empty containers an account starts with (module docstring): never written to.
NO_COINS: Final[dict[str, int]] = {}
NO_POSITIONS: Final[dict[str, Position]] = {}
NO_ORDERS: Final[dict[int, Order]] = {}
NO_CLIENT_IDS: Final[dict[str, Order]] = {}
NO_IDS: Final[list[int]] = []
NO_TIMES: Final[list[int]] = []
NO_EXCLUDED: Final[set[str]] = set()


def shared_empties() -> tuple[Sized, ...]:
    """The shared empty containers, for the tests that check nothing wrote to them."""
    return NO_COINS, NO_POSITIONS, NO_ORDERS, NO_CLIENT_IDS, NO_IDS, NO_TIMES, NO_EXCLUDED, NO_DAYS


class Position:
    """A futures position. `cost` is the signed USD paid for the open size (negative for shorts),
    so unrealized PnL = size * mark * tick_value - cost; open_buy / open_sell are resting lots."""

    __slots__ = (
        "account",
        "book",
        "cost",
        "market",
        "open_buy",
        "open_sell",
        "realized",
        "reduce_only_orders",
        "size",
    )

    def __init__(self, book: Book, account: int) -> None:
        self.book = book
        self.account = account  # the holder's account id
        self.market = book.market
        self.size = 0
        self.cost = 0
        self.open_buy = 0
        self.open_sell = 0
        self.realized = 0
        self.reduce_only_orders = 0  # resting reduce-only orders, refitted when the size changes

    def open_size(self) -> int:
        """FTX's position open size: the largest size if all buys or all sells fill."""
        longest = self.size + self.open_buy
        if longest < 0:
            longest = -longest
        shortest = self.size - self.open_sell
        if shortest < 0:
            shortest = -shortest
        return longest if longest > shortest else shortest

    def canonical(self) -> tuple[Any, ...]:
        return (
            self.market,
            self.size,
            self.cost,
            self.open_buy,
            self.open_sell,
            self.realized,
            self.reduce_only_orders,
        )


class Account:
    __slots__ = (
        "balances",
        "client_ids",
        "excluded",
        "id",
        "leverage",
        "liquidation",
        "name",
        "orders",
        "owner",
        "positions",
        "recent_closed",
        "reserved",
        "small_provides",
        "usd",
        "volume",
        "watch_heap",
        "watch_key",
    )

    def __init__(self, id: int, owner: str, name: str, volume: Volume) -> None:
        self.id = id
        self.owner = owner
        self.name = name
        self.leverage = DEFAULT_LEVERAGE
        # USD atoms (negative when borrowed against other collateral): a field of its own, not an
        # entry of `balances`, because funding, fees and every settlement touch it and a field is
        # one memory access where a dict entry is four and a fresh int object
        self.usd = 0
        # the containers start shared and empty, each made the account's own on its first write
        self.balances: dict[str, int] = NO_COINS  # every other coin -> atoms
        self.reserved: dict[str, int] = NO_COINS  # coin -> atoms held by open spot orders
        self.positions: dict[str, Position] = NO_POSITIONS
        self.orders: dict[int, Order] = NO_ORDERS  # open orders by id
        self.client_ids: dict[str, Order] = NO_CLIENT_IDS  # open orders by clientId
        self.recent_closed: list[int] = NO_IDS
        self.small_provides: list[int] = NO_TIMES  # times of resting orders below minProvideSize
        self.volume = volume  # the owner's 30-day volume, shared by its subaccounts
        self.liquidation = 0  # 0 none, 1 orderly (step 1), 2 auto-close (step 2): no trading
        self.watch_key = -1  # its entry in the at-risk index (risk.py); a cache, not state
        self.watch_heap: list[int] | None = None  # ... and the heap that entry is in
        self.excluded: set[str] = NO_EXCLUDED  # coins whose positive balance is not collateral (above)

    def balance(self, coin: str) -> int:
        return self.usd if coin == USD else self.balances.get(coin, 0)

    def wallet(self) -> dict[str, int]:
        """Every coin's balance, USD included (when not zero)."""
        held = {USD: self.usd} if self.usd else {}
        held.update(self.balances)
        return held

    def available(self, coin: str) -> int:
        return self.balance(coin) - self.reserved.get(coin, 0)

    def credit(self, coin: str, atoms: int) -> None:
        if coin == USD:
            self.usd += atoms
        else:
            balances = self.balances
            if balances is NO_COINS:
                balances = {}
                self.balances = balances
            balances[coin] = balances.get(coin, 0) + atoms

    def reserve(self, coin: str, atoms: int) -> None:
        reserved = self.reserved
        left = reserved.get(coin, 0) + atoms
        if left:
            if reserved is NO_COINS:
                reserved = {}
                self.reserved = reserved
            reserved[coin] = left
        else:
            del reserved[coin]

    def position(self, book: Book) -> Position:
        """The account's position in `book`'s market, opened (flat) if it has none."""
        positions = self.positions
        pos = positions.get(book.market)
        if pos is None:
            pos = Position(book, self.id)
            if positions is NO_POSITIONS:
                positions = {}
                self.positions = positions
            positions[book.market] = pos
        return pos

    def add_order(self, order: Order) -> None:
        """Index an order that now rests (by id and, when it has one, by client id)."""
        orders = self.orders
        if orders is NO_ORDERS:
            orders = {}
            self.orders = orders
        orders[order.id] = order
        client_id = order.client_id
        if client_id is not None:
            client_ids = self.client_ids
            if client_ids is NO_CLIENT_IDS:
                client_ids = {}
                self.client_ids = client_ids
            client_ids[client_id] = order

    def forget(self, order: Order) -> None:
        """Drop a closed order from the open-order indexes, remembering its id for a while."""
        del self.orders[order.id]
        if order.client_id is not None:
            self.client_ids.pop(order.client_id, None)
        self.remember_closed(order.id)

    def note_small_provide(self, ts: int, window: int) -> None:
        """Count a resting order below minProvideSize, forgetting those older than `window`."""
        since = ts - window
        kept = [t for t in self.small_provides if t > since]
        kept.append(ts)
        self.small_provides = kept

    def remember_closed(self, order_id: int) -> None:
        recent = self.recent_closed
        if recent is NO_IDS:
            recent = []
            self.recent_closed = recent
        recent.append(order_id)
        if len(recent) >= 2 * RECENT_CLOSED:  # trimmed in batches: cheap per order
            del recent[:RECENT_CLOSED]

    def exclude(self, coin: str, excluded: bool) -> None:
        """Count `coin` as collateral (False) or not (True): FTX's per-account switch."""
        if excluded:
            if self.excluded is NO_EXCLUDED:
                self.excluded = {coin}
            else:
                self.excluded.add(coin)
        elif coin in self.excluded:
            self.excluded.discard(coin)

    def canonical(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.owner,
            self.name,
            self.leverage,
            sorted((c, v) for c, v in self.wallet().items() if v),
            sorted(self.reserved.items()),
            sorted(p.canonical() for p in self.positions.values()),
            sorted(self.orders),
            sorted((k, o.id) for k, o in self.client_ids.items()),
            list(self.recent_closed),
            list(self.small_provides),
            self.liquidation,
            *((sorted(self.excluded),) if self.excluded else ()),
        )
