"""Accounts (one per subaccount, each its own cross-margin pool), balances and positions.

An account may exclude coins from its collateral (`Account.excluded`, empty by default; FTX's
per-account FTT collateral switch sets it through the FTT product): a positive balance of an
excluded coin then counts 0 wherever collateral is valued (margin.collateral, risk.assess,
liquidation_price), a debt in it still in full. The coins stay the account's (and can still be
sold to cover a USD debt). An account that excludes nothing hashes as before.

Memory: most accounts hold USD and at most one position and have few orders, so an account's
balances of other coins and its positions are compact maps read like dicts (`Coins`: the first
coin in two fields; `Positions`: a tuple, a dict by market only past `SCAN_MAX`), and its
containers (balances, holds, positions, open orders, client ids, closed ids, small provides,
excluded coins) start as one shared empty container each (`NO_COINS`, `NO_POSITIONS`, ...) and
get their own on the first write, which goes through the methods here (`credit`, `reserve`,
`position`, `add_order`, `remember_closed`, `note_small_provide`, `exclude`). Nothing else may
write to an account's containers in place (reading them is free): a write to a shared empty
one would be every account's. tests/property checks they stay empty. The open-order indexes go
back to the shared empty ones when their last order closes (`forget`): a dict keeps its table
when emptied, and most accounts' orders come and go. The last closed order id is a field
(`last_closed`), the ones before it an array of machine ints (`recent_closed`, empty and shared
until an account's second closed order): `closed` asks, `closed_ids` lists them oldest first.

Owners: `Owners` finds an account by owner and subaccount name. An owner's first account is
indexed by the owner alone (it carries the owner's `Volume`, so `Volumes` reads the owners' volumes
through it); a map of names to ids is kept only for the owners with more than one account (most
have one)."""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sized
from typing import Any, Final

from backstop.catalog import USD
from backstop.engine.book import Book
from backstop.engine.fees import NO_DAYS, Volume
from backstop.engine.orders import Order

DEFAULT_LEVERAGE: Final = 10
RECENT_CLOSED: Final = 1000
"""An account remembers at least this many closed order ids, to answer "Order already closed"."""


class Coins:
    """An account's balances of the coins other than USD (coin -> atoms), read like the dict they
    used to be: `get`, `[coin]`, `in`, `len`, truth, iteration, `keys`, `values` and `items`, in
    the order the coins first arrived. Written only through `add` (`Account.credit`); a coin once
    there stays, at zero too, as it did in the dict.

    Memory and locality (issue 17): most accounts holding a coin hold one, and a dict of one entry
    is 184 bytes plus an int object for the atoms. Here the first coin and its atoms are fields
    (the atoms a machine int in the compiled engine, no object of their own), the other coins in a
    dict made when a second one arrives: 64 bytes for one coin, and the margin checks read the
    first coin from its fields (`coin`, `atoms`) without a dict or a list."""

    __slots__ = ("atoms", "coin", "more")

    def __init__(self) -> None:
        self.coin = ""  # the first coin to arrive ("" while none has)
        self.atoms = 0  # its balance
        self.more: dict[str, int] | None = None  # the others, in arrival order

    def add(self, coin: str, atoms: int) -> None:
        """Add `atoms` (negative: take them) to `coin`'s balance."""
        if coin == self.coin:
            self.atoms += atoms
        elif not self.coin:
            self.coin = coin
            self.atoms = atoms
        else:
            more = self.more
            if more is None:
                self.more = {coin: atoms}
            else:
                more[coin] = more.get(coin, 0) + atoms

    def get(self, coin: str, default: int = 0) -> int:
        if coin == self.coin and coin:
            return self.atoms
        more = self.more
        return default if more is None else more.get(coin, default)

    def __getitem__(self, coin: str) -> int:
        if coin == self.coin and coin:
            return self.atoms
        more = self.more
        if more is None:
            raise KeyError(coin)
        return more[coin]

    def __contains__(self, coin: object) -> bool:
        if coin == self.coin and self.coin:
            return True
        more = self.more
        return more is not None and coin in more

    def __len__(self) -> int:
        more = self.more
        return (1 if self.coin else 0) + (0 if more is None else len(more))

    def __bool__(self) -> bool:
        return self.coin != ""

    def any_held(self) -> bool:
        """Whether any balance here is not zero."""
        if self.atoms:
            return True
        more = self.more
        if more is not None:
            for atoms in more.values():
                if atoms:
                    return True
        return False

    def keys(self) -> list[str]:
        if not self.coin:
            return []
        more = self.more
        return [self.coin] if more is None else [self.coin, *more]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def values(self) -> list[int]:
        if not self.coin:
            return []
        more = self.more
        return [self.atoms] if more is None else [self.atoms, *more.values()]

    def items(self) -> list[tuple[str, int]]:
        if not self.coin:
            return []
        more = self.more
        first = (self.coin, self.atoms)
        return [first] if more is None else [first, *more.items()]

    def __repr__(self) -> str:
        return f"Coins({dict(self.items())!r})"


# The shared empty containers an account starts with (module docstring): never written to.
NO_COINS: Final[Coins] = Coins()
NO_HOLDS: Final[dict[str, int]] = {}
NO_ORDERS: Final[dict[int, Order]] = {}
NO_CLIENT_IDS: Final[dict[str, Order]] = {}
NO_IDS: Final[array[int]] = array("q")
NO_TIMES: Final[list[int]] = []
NO_EXCLUDED: Final[set[str]] = set()


def shared_empties() -> tuple[Sized, ...]:
    """The shared empty containers, for the tests that check nothing wrote to them."""
    return NO_COINS, NO_HOLDS, NO_POSITIONS, NO_ORDERS, NO_CLIENT_IDS, NO_IDS, NO_TIMES, NO_EXCLUDED, NO_DAYS


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


SCAN_MAX: Final = 8
"""An account with more positions than this also keeps a dict of them by market (`Positions`)."""


class Positions:
    """An account's positions by market, read like the dict they used to be: `get`, `[market]`,
    `in`, `len`, truth, iteration, `keys`, `values` and `items`, in the order they were opened.
    Written only through `add` (`Account.position`); a position once opened stays, flat too.

    Memory (issue 17): a dict of one entry is 184 bytes. Here the positions are one tuple (each
    knows its market), `values` hands it out as it is (the margin checks iterate it, no list
    made), and a market is found by comparing the few markets held; an account holding more than
    `SCAN_MAX` also keeps a dict by market. 104 bytes for one position."""

    __slots__ = ("all", "by_market")

    def __init__(self) -> None:
        self.all: tuple[Position, ...] = ()
        self.by_market: dict[str, Position] | None = None  # only past SCAN_MAX positions

    def add(self, pos: Position) -> None:
        """A newly opened position (its market not held yet)."""
        self.all = (*self.all, pos)
        if len(self.all) > SCAN_MAX:
            by_market = self.by_market
            if by_market is None:
                self.by_market = {p.market: p for p in self.all}
            else:
                by_market[pos.market] = pos

    def get(self, market: str) -> Position | None:
        by_market = self.by_market
        if by_market is not None:
            return by_market.get(market)
        for pos in self.all:
            if pos.market == market:
                return pos
        return None

    def __getitem__(self, market: str) -> Position:
        pos = self.get(market)
        if pos is None:
            raise KeyError(market)
        return pos

    def __contains__(self, market: object) -> bool:
        return isinstance(market, str) and self.get(market) is not None

    def __len__(self) -> int:
        return len(self.all)

    def __bool__(self) -> bool:
        return len(self.all) > 0

    def values(self) -> tuple[Position, ...]:
        """The positions, in the order they were opened (the tuple itself: never to be changed)."""
        return self.all

    def in_market_order(self) -> tuple[Position, ...] | list[Position]:
        """The positions in the order of their markets' names (as `sorted(positions)` gave the
        names of the dict): the liquidation's order."""
        held = self.all
        return held if len(held) < 2 else sorted(held, key=_market_of)

    def keys(self) -> list[str]:
        return [pos.market for pos in self.all]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def items(self) -> list[tuple[str, Position]]:
        return [(pos.market, pos) for pos in self.all]

    def __repr__(self) -> str:
        return f"Positions({dict(self.items())!r})"


def _market_of(pos: Position) -> str:
    return pos.market


NO_POSITIONS: Final[Positions] = Positions()


class Account:
    __slots__ = (
        "balances",
        "client_ids",
        "excluded",
        "id",
        "last_closed",
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
        self.balances: Coins = NO_COINS  # every other coin -> atoms
        self.reserved: dict[str, int] = NO_HOLDS  # coin -> atoms held by open spot orders
        self.positions: Positions = NO_POSITIONS
        self.orders: dict[int, Order] = NO_ORDERS  # open orders by id
        self.client_ids: dict[str, Order] = NO_CLIENT_IDS  # open orders by clientId
        self.last_closed = 0  # the id of the order closed last, 0 before the first (ids start at 1)
        self.recent_closed: array[int] = NO_IDS  # the ones closed before it, oldest first
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
        held.update(self.balances.items())
        return held

    def available(self, coin: str) -> int:
        return self.balance(coin) - self.reserved.get(coin, 0)

    def credit(self, coin: str, atoms: int) -> None:
        if coin == USD:
            self.usd += atoms
        else:
            balances = self.balances
            if balances is NO_COINS:
                balances = Coins()
                self.balances = balances
            balances.add(coin, atoms)

    def reserve(self, coin: str, atoms: int) -> None:
        reserved = self.reserved
        left = reserved.get(coin, 0) + atoms
        if left:
            if reserved is NO_HOLDS:
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
                positions = Positions()
                self.positions = positions
            positions.add(pos)
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
        self._unindex(order)
        self.remember_closed(order.id)

    def _unindex(self, order: Order) -> None:
        """Drop an open order from the open-order indexes; an index left empty is the shared
        empty one again (module docstring)."""
        orders = self.orders
        del orders[order.id]
        if not orders:
            self.orders = NO_ORDERS
        client_id = order.client_id
        if client_id is not None:
            client_ids = self.client_ids
            if client_ids.pop(client_id, None) is not None and not client_ids:
                self.client_ids = NO_CLIENT_IDS

    def forget_all(self, orders: list[Order]) -> None:
        """`forget` each of `orders` (all open here) in turn: the same indexes and the same ids
        remembered (`remember_closed` of each appends the one before it; here they go in one
        `extend`)."""
        for order in orders:
            self._unindex(order)
        if not orders:
            return
        last = self.last_closed
        earlier: list[int] = [last] if last else []
        for i in range(len(orders) - 1):
            earlier.append(orders[i].id)
        self.last_closed = orders[-1].id
        if earlier:
            self._remember_earlier(earlier)

    def note_small_provide(self, ts: int, window: int) -> None:
        """Count a resting order below minProvideSize, forgetting those older than `window`."""
        since = ts - window
        kept = [t for t in self.small_provides if t > since]
        kept.append(ts)
        self.small_provides = kept

    def remember_closed(self, order_id: int) -> None:
        """Remember a closed order's id: the last one in `last_closed`, those before it in
        `recent_closed`; the list of them all (`closed_ids`) is trimmed to its last RECENT_CLOSED
        when it reaches twice that (in batches: cheap per order)."""
        last = self.last_closed
        self.last_closed = order_id
        if not last:
            return
        recent = self.recent_closed
        if recent is NO_IDS:
            recent = array("q")
            self.recent_closed = recent
        recent.append(last)
        if len(recent) + 1 >= 2 * RECENT_CLOSED:
            del recent[:RECENT_CLOSED]

    def _remember_earlier(self, ids: list[int]) -> None:
        """Append closed ids before `last_closed` at once: the array is trimmed by RECENT_CLOSED
        while it holds 2 x RECENT_CLOSED - 1 or more, which drops the same oldest ids as
        `remember_closed`'s trim after each append does (each trim there happens at that
        length, and what it leaves is shorter)."""
        recent = self.recent_closed
        if recent is NO_IDS:
            recent = array("q")
            self.recent_closed = recent
        recent.extend(ids)
        while len(recent) + 1 >= 2 * RECENT_CLOSED:
            del recent[:RECENT_CLOSED]

    def closed(self, order_id: int) -> bool:
        """Whether `order_id` is one of the account's remembered closed orders."""
        return order_id == self.last_closed or order_id in self.recent_closed

    def closed_ids(self) -> list[int]:
        """The remembered closed order ids, oldest first."""
        last = self.last_closed
        if not last:
            return []
        ids = self.recent_closed.tolist()
        ids.append(last)
        return ids

    def restore_closed(self, ids: list[int]) -> None:
        """Put back the remembered closed order ids (`closed_ids`' list)."""
        if ids:
            self.last_closed = ids[-1]
            if len(ids) > 1:
                self.recent_closed = array("q", ids[:-1])

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
            self.closed_ids(),
            list(self.small_provides),
            self.liquidation,
            *((sorted(self.excluded),) if self.excluded else ()),
        )


class Owners:
    """The accounts by owner and subaccount name (the main account's name is ""), in the order the
    owners' first accounts were created. Read like the dict of dicts it stands for,
    `{owner: {name: account id}}`: `owners[owner]` and `owners.get(owner, default)` give a new dict
    of the owner's accounts (changing it changes nothing here); `account_id` looks one up without
    building it. Written only by `add` (module docstring: one index entry per owner, a dict of
    names only for an owner with several accounts)."""

    __slots__ = ("first", "more")

    def __init__(self) -> None:
        self.first: dict[str, Account] = {}  # owner -> its first account
        self.more: dict[str, dict[str, int]] = {}  # owner -> {name: id}, owners with several only

    def add(self, acct: Account) -> None:
        """Index a new account (its owner and name not taken: the caller checks `account_id`)."""
        owner = acct.owner
        first = self.first.get(owner)
        if first is None:
            self.first[owner] = acct
            return
        subs = self.more.get(owner)
        if subs is None:
            subs = {first.name: first.id}
            self.more[owner] = subs
        subs[acct.name] = acct.id

    def account_id(self, owner: str, name: str = "") -> int | None:
        first = self.first.get(owner)
        if first is None:
            return None
        if first.name == name:
            return first.id
        subs = self.more.get(owner)
        return None if subs is None else subs.get(name)

    def __getitem__(self, owner: str) -> dict[str, int]:
        subs = self.more.get(owner)
        if subs is not None:
            return dict(subs)
        first = self.first[owner]
        return {first.name: first.id}

    def get(self, owner: str, default: dict[str, int]) -> dict[str, int]:
        return self[owner] if owner in self.first else default

    def __contains__(self, owner: object) -> bool:
        return owner in self.first

    def __iter__(self) -> Iterator[str]:
        return iter(self.first)

    def __len__(self) -> int:
        return len(self.first)


class Volumes:
    """Each owner's `Volume`, by owner, read through its first account (`Owners`): read like a
    dict `{owner: Volume}` (`[owner]`, `get`, `in`, iteration and `items` in the owners' order)."""

    __slots__ = ("first",)

    def __init__(self, owners: Owners) -> None:
        self.first = owners.first

    def __getitem__(self, owner: str) -> Volume:
        return self.first[owner].volume

    def get(self, owner: str) -> Volume | None:
        acct = self.first.get(owner)
        return None if acct is None else acct.volume

    def __contains__(self, owner: object) -> bool:
        return owner in self.first

    def __iter__(self) -> Iterator[str]:
        return iter(self.first)

    def __len__(self) -> int:
        return len(self.first)

    def items(self) -> list[tuple[str, Volume]]:
        return [(owner, acct.volume) for owner, acct in self.first.items()]

    def values(self) -> list[Volume]:
        return [acct.volume for acct in self.first.values()]
