"""The exchange state machine: `Exchange.apply(command) -> events`.

Everything that changes state arrives as a command and goes through here, single-threaded. There
is no clock, I/O or unseeded randomness: time comes in the command, so replaying the same journal
gives the same state, bit for bit. A command that is rejected returns one `Rejected` event and
changes nothing (every check runs before the first mutation). Commands are trusted to be
well-typed: the edges check that (`commands.invalid_field`) before anything reaches the journal.

Self-trade prevention: an order never matches a resting order of the same owner (any of its
subaccounts). The resting order is cancelled (reason "self_trade") and matching goes on.

No privileged accounts: nothing here or in the risk engine looks at who an account belongs to
beyond self-trade prevention; market makers, backstop providers and the operator's own accounts
are margined and liquidated by the same code.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

from backstop.catalog import USD, Catalog, Market, load
from backstop.engine import (
    backstop,
    conditional,
    errors,
    expiry,
    funding,
    insurance,
    integrity,
    ledger,
    liquidation,
    prices,
)
from backstop.engine.accounts import Account, Owners, Position, Volumes
from backstop.engine.amounts import MAX_ATOMS, MAX_ORDER_ATOMS, RATE
from backstop.engine.backstop import Backstop
from backstop.engine.book import Book, Side
from backstop.engine.commands import (
    CancelAll,
    CancelConditional,
    CancelOrder,
    Command,
    CreateAccount,
    Deposit,
    FundInsurance,
    HaltMarket,
    IndexUpdate,
    MassQuote,
    ModifyConditional,
    ModifyOrder,
    PlaceConditional,
    PlaceOrder,
    RegisterBackstop,
    SetLeverage,
    SetMarginFloor,
    Tick,
    Transfer,
    Withdraw,
)
from backstop.engine.commands import register as register_command
from backstop.engine.events import (
    AccountCreated,
    Deposited,
    Event,
    Fill,
    IndexUpdated,
    LeverageSet,
    LiquidationOrder,
    MarginFloorSet,
    MarketHalted,
    OrderAccepted,
    OrderClosed,
    OrderResized,
    Rejected,
    Transferred,
    Withdrawn,
)
from backstop.engine.fees import DAY_US, TIERS, FeeLedger, Volume, fee
from backstop.engine.insurance import InsuranceFund
from backstop.engine.ledger import Moves
from backstop.engine.margin import free_collateral
from backstop.engine.orders import Order
from backstop.engine.product import Handler, Product
from backstop.engine.product import codes as product_codes
from backstop.engine.risk import below_maintenance
from backstop.engine.settlement import reducible, settle
from backstop.engine.volume import MINUTE_US, roll_minute

BUY: Final = "buy"
SELL: Final = "sell"
HOUR_US: Final = 3_600 * 1_000_000
SMALL_PROVIDES_PER_HOUR: Final = 10
"""FTX enforced minProvideSize only on an account's 11th resting order below it within an hour."""
SECOND_US: Final = 1_000_000
REBASE_CANCEL: Final = "rebase"
"""The reason an order resting on a book of a coin held in shares closes when its units change."""
OPEN_SIDE_FLOOR: Final = 1_000_000 * 10**8  # $1m: open orders per side below this are never too large


def _bind(ex: Exchange, handler: Handler) -> Callable[[Any, int], list[Event]]:
    """A product's handler as the exchange calls its own: (command, ts) -> events."""

    def bound(command: Any, ts: int) -> list[Event]:
        return handler(ex, command, ts)

    return bound


def open_size(size: int, open_buy: int, open_sell: int) -> int:
    """FTX's open size of a market: max(|size + open buys|, |size - open sells|), the size the
    margin an order needs is reckoned on, in machine ints."""
    longest = size + open_buy
    if longest < 0:
        longest = -longest
    shortest = size - open_sell
    if shortest < 0:
        shortest = -shortest
    return longest if longest > shortest else shortest


def open_sizes(size: int, open_buy: int, open_sell: int, lots: int, is_buy: bool) -> tuple[int, int]:
    """A market's open size (`open_size`) before and after an order of `lots` on one side."""
    current = open_size(size, open_buy, open_sell)
    if is_buy:
        return current, open_size(size, open_buy + lots, open_sell)
    return current, open_size(size, open_buy, open_sell + lots)


class Exchange:
    """The state machine. `products` are the enabled products (engine/product.py), injected by
    whoever builds the exchange (`backstop.products.exchange`); the core never imports one."""

    def __init__(
        self, catalog: Catalog | None = None, seed: int = 0, products: Sequence[Product] = ()
    ) -> None:
        self.catalog: Catalog = catalog if catalog is not None else load()
        self.now = 0
        self.accounts: list[Account] = []
        self.owners = Owners()  # {owner: {subaccount name: account id}}, kept small (accounts.py)
        self.books: dict[str, Book] = {name: Book(info) for name, info in self.catalog.markets.items()}
        self.next_order_id = 1
        self.next_trade_id = 1
        self.volumes = Volumes(self.owners)  # {owner: its 30-day Volume}, through its first account
        self.fees = FeeLedger()
        self.deposits: dict[str, int] = {}
        self.withdrawals: dict[str, int] = {}
        self.coin_books: dict[str, Book] = {  # coin -> the book whose mark prices it as collateral
            name: self.books[info.price_market]
            for name, info in self.catalog.coins.items()
            if info.price_market is not None
        }
        self.rng = random.Random(seed)  # the engine's only randomness (liquidation sizes and order)
        self._refit: list[tuple[Account, Position]] = []  # positions whose size moved this command
        self.book_list: list[Book] = [self.books[name] for name in sorted(self.books)]
        self.books_on: dict[str, list[Book]] = {}  # underlying / base coin -> its markets
        for book in self.book_list:
            self.books_on.setdefault(book.info.base, []).append(book)
        self.index: dict[str, int] = {}  # coin -> index price, USD atoms per coin
        self.clock = 0  # ts of the last Tick
        self.insurance = InsuranceFund()
        self.backstops: dict[int, Backstop] = {}
        self.liquidating: dict[int, Account] = {}  # accounts the risk engine is closing
        self.shortfall: dict[
            str, int
        ] = {}  # market -> fund debits beyond zero this tick (empty between ticks)
        # the at-risk index (risk.py): a cache, rebuilt by assessing every account after a restore
        self.drift = 0
        self.watch: list[int] = []  # the at-risk index (risk.py): key << 32 | account id
        self.dirty: set[int] = set()
        self.conditionals: dict[int, conditional.Conditional] = {}  # open trigger orders by id
        # ... their ids by account, in id order (conditional.py keeps it; a cache, not state)
        self.conditionals_of: dict[int, dict[int, None]] = {}
        self.closed_conditionals: dict[int, None] = {}
        self.next_trigger_id = 1
        self.supply: dict[str, int] = {}  # product coin -> atoms outstanding (minted - burned)
        self.pools: dict[str, dict[str, int]] = {}  # named pools (product reserves) -> coin -> atoms
        self.product_coins: set[str] = set()  # coins the products create, known to the ledger
        self.units: dict[str, int] = {}  # coin held in shares -> shares per atom (set_units)
        self.share_coins: set[str] = set()  # coins a product holds in shares (its `held_in_shares`)
        self.products: tuple[Product, ...] = tuple(products)
        # the products whose liquidation hook runs, each with the owners it concerns ("" all;
        # the product's optional `liquidation_owners`, see product.py): liquidation._start
        self.liquidation_hooks: list[tuple[Product, str]] = []
        self.handlers: dict[type[Any], Callable[[Any, int], list[Event]]] = self._core_handlers()
        self._register_products()

    def apply(self, command: Command | tuple[Any, ...]) -> list[Event]:
        """Apply one command: one lookup of its class in `handlers` (core and product commands
        alike), an unknown class is rejected. Time never runs backwards: an earlier ts is read as
        `now`, and `now` moves only when the command is not rejected."""
        ts: int = command[0]
        if ts < self.now:
            ts = self.now
        kind = type(command)
        # the two commands of most of the traffic straight to their handlers (the same ones
        # `handlers` holds: a product cannot replace a core command's), not through a bound method
        if kind is PlaceOrder:
            events = self._place(cast(PlaceOrder, command), ts)
        elif kind is CancelOrder:
            events = self._cancel(cast(CancelOrder, command), ts)
        else:
            handler = self.handlers.get(kind)
            if handler is None:
                return [Rejected(f"Unknown command {kind.__name__}")]
            events = handler(command, ts)
        if not events or not isinstance(events[0], Rejected):
            self.now = ts
        return events

    def _core_handlers(self) -> dict[type[Any], Callable[[Any, int], list[Event]]]:
        """The core commands' handlers, by command class."""
        return {
            PlaceOrder: self._place,
            CancelOrder: self._cancel,
            ModifyOrder: self._modify,
            CancelAll: self._cancel_all,
            MassQuote: self._mass_quote,
            Deposit: self._deposit,
            Withdraw: self._withdraw,
            Transfer: self._transfer,
            SetLeverage: self._set_leverage,
            CreateAccount: self._create_account,
            Tick: self._tick_command,
            IndexUpdate: self._index_update,
            RegisterBackstop: self._register_backstop,
            HaltMarket: self._halt,
            FundInsurance: self._fund_insurance,
            SetMarginFloor: self._set_margin_floor,
            PlaceConditional: self._place_conditional,
            CancelConditional: self._cancel_conditional,
            ModifyConditional: self._modify_conditional,
        }

    def _register_products(self) -> None:
        """Give each product's commands their journal codes and handlers, and its coins to the
        ledger; two products may not share a name, a code or a command class."""
        names: set[str] = set()
        for product in self.products:
            if product.name in names:
                raise ValueError(f"two products named {product.name}")
            names.add(product.name)
            self.product_coins.update(product.coins)
            self.share_coins.update(getattr(product, "held_in_shares", ()))
            owners: str | None = getattr(product, "liquidation_owners", "")
            if owners is not None:
                self.liquidation_hooks.append((product, owners))
            for code, (cls, handler) in product_codes(product).items():
                register_command(code, cls)
                if cls in self.handlers:
                    raise ValueError(f"{cls.__name__} has a handler already")
                self.handlers[cls] = _bind(self, handler)

    def _tick_command(self, c: Tick, ts: int) -> list[Event]:
        return self._tick(ts)

    def _register_backstop(self, c: RegisterBackstop, ts: int) -> list[Event]:
        return backstop.register(self, c, ts)

    def _place_conditional(self, c: PlaceConditional, ts: int) -> list[Event]:
        return conditional.place(self, c, ts)

    def _cancel_conditional(self, c: CancelConditional, ts: int) -> list[Event]:
        return conditional.cancel(self, c, ts)

    def _modify_conditional(self, c: ModifyConditional, ts: int) -> list[Event]:
        return conditional.modify(self, c, ts)

    # ----------------------------------------------------------------------------- queries

    def account(self, account: int) -> Account | None:
        if 0 <= account < len(self.accounts):
            return self.accounts[account]
        return None

    def account_id(self, owner: str, subaccount: str = "") -> int | None:
        return self.owners.account_id(owner, subaccount)

    def mark(self, market: str) -> int | None:
        return self.books[market].mark()

    def coin_price(self, coin: str) -> tuple[Market, int] | None:
        """The market that prices `coin` and its mark in that market's ticks."""
        info = self.catalog.coins.get(coin)
        if info is None or info.price_market is None:
            return None
        book = self.books[info.price_market]
        ticks = book.mark()
        if ticks is None:
            return None
        return book.info, ticks

    def canonical(self) -> list[Any]:
        return integrity.canonical(self)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its catalog and canonical state (and its products' classes), rebuilt by
        `restore` (the same in the compiled and the pure-Python engine)."""
        from backstop.engine.restore import restore

        if not self.products:  # as before products existed: old readers read it too
            return (restore, (self.catalog, self.canonical()))
        return (restore, (self.catalog, self.canonical(), tuple(type(p) for p in self.products)))

    def state_hash(self) -> str:
        return integrity.state_hash(self)

    def discrepancies(self) -> dict[str, int]:
        return integrity.discrepancies(self)

    # ----------------------------------------------------------------------------- wallet

    def _create_account(self, c: CreateAccount, ts: int) -> list[Event]:
        if not c.owner:
            return [Rejected("Invalid parameter nickname")]
        owners = self.owners
        volume = self.volumes.get(c.owner)
        if volume is None:
            volume = Volume()
        elif owners.account_id(c.owner, c.subaccount) is not None:
            return [Rejected(errors.SUBACCOUNT_EXISTS)]
        acct = Account(len(self.accounts), c.owner, c.subaccount, volume)
        self.accounts.append(acct)
        owners.add(acct)
        return [AccountCreated(acct.id, c.owner, c.subaccount)]

    def _balance_of(self, coin: str, amount: int) -> tuple[str, int, str]:
        """(the balance `coin` moves, the ledger units `amount` atoms of it are, error or ""): USD
        stablecoins move the USD balance; a coin held in shares (`units`) moves its shares."""
        info = self.catalog.coins.get(coin)
        if info is None:
            return "", 0, errors.no_such_coin(coin)
        if amount <= 0 or amount > MAX_ATOMS:
            return "", 0, errors.INVALID_SIZE
        if info.usd_alias:
            return USD, amount, ""
        return coin, amount * self.units.get(coin, 1), ""

    def _deposit(self, c: Deposit, ts: int) -> list[Event]:
        acct = self.account(c.account)
        if acct is None:
            return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
        credited, held, err = self._balance_of(c.coin, c.amount)
        if err:
            return [Rejected(err)]
        if credited in self.share_coins and self.deposits.get(credited, 0) + held > self.withdrawals.get(
            credited, 0
        ):
            # a coin held in shares exists only as its product issues it (none before): what comes
            # in is what went out, in shares
            return [Rejected(errors.not_withdrawn(c.coin))]
        events: list[Event] = [Deposited(acct.id, c.coin, credited, c.amount, ts)]
        err = ledger.apply(self, Moves().pay(acct.id, credited, held).deposit(credited, held), ts, events)
        return [Rejected(err)] if err else events

    def _can_release(self, acct: Account, coin: str, amount: int) -> bool:
        """Whether `amount` of `coin` may leave the account: it must not be held by open orders,
        and free collateral must stay >= 0 afterwards (withdrawals only from free collateral)."""
        if acct.available(coin) < amount:
            return False
        if not acct.positions and not acct.reserved:
            return True
        acct.credit(coin, -amount)
        ok = free_collateral(self, acct) >= 0
        acct.credit(coin, amount)
        return ok

    def _withdraw(self, c: Withdraw, ts: int) -> list[Event]:
        acct = self.account(c.account)
        if acct is None:
            return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
        debited, held, err = self._balance_of(c.coin, c.amount)
        if err:
            return [Rejected(err)]
        if not self._can_release(acct, debited, held):
            return [Rejected(errors.NOT_ENOUGH_BALANCES)]
        events: list[Event] = [Withdrawn(acct.id, c.coin, debited, c.amount, ts, c.address, c.tag)]
        moves = Moves().pay(acct.id, debited, -held).withdraw(debited, held)
        err = ledger.apply(self, moves, ts, events)
        return [Rejected(err)] if err else events

    def _transfer(self, c: Transfer, ts: int) -> list[Event]:
        source = self.account(c.source)
        destination = self.account(c.destination)
        if source is None or destination is None:
            return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
        if source.owner != destination.owner:
            return [Rejected(errors.NOT_AUTHORIZED_SUBACCOUNT)]
        if source is destination:
            return [Rejected("Invalid parameter destination")]
        moved, held, err = self._balance_of(c.coin, c.amount)
        if err:
            return [Rejected(err)]
        if not self._can_release(source, moved, held):
            return [Rejected(errors.NOT_ENOUGH_BALANCES)]
        events: list[Event] = [Transferred(source.id, destination.id, moved, c.amount, ts)]
        moves = Moves().pay(source.id, moved, -held).pay(destination.id, moved, held)
        err = ledger.apply(self, moves, ts, events)
        return [Rejected(err)] if err else events

    def _set_leverage(self, c: SetLeverage, ts: int) -> list[Event]:
        acct = self.account(c.account)
        if acct is None:
            return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
        if not 1 <= c.leverage <= self.catalog.risk.max_leverage:
            return [Rejected(errors.INVALID_LEVERAGE)]
        acct.leverage = c.leverage
        return [LeverageSet(acct.id, c.leverage)]

    # ----------------------------------------------------------------------------- order checks

    def _check(
        self,
        acct: Account,
        book: Book,
        side: str,
        lots: int,
        price: int | None,
        type_: str,
        ioc: bool,
        post_only: bool,
        reduce_only: bool,
        client_id: str | None,
        replacing: Order | None,
        ts: int,
        margin_checked: bool = False,
    ) -> tuple[str, int]:
        """Validate an order against the rules and the account: (error or "", price it may trade to).

        A limit price beyond the band (2% through the touch for futures, 25% for spot) is capped
        there; a market order gets the capped price, or 0 when the other side is empty (it will
        expire unfilled). `margin_checked`: the caller has shown the account's margin covers this
        order (a mass quote's whole ladder), so the margin tests are not repeated.
        """
        market = book.info
        is_buy = side == BUY
        if not is_buy and side != SELL:
            return errors.INVALID_SIDE, 0
        if acct.liquidation:
            return errors.NOT_ENOUGH_MARGIN, 0  # being liquidated: the risk engine trades for it
        if book.closed or (market.expiry_us is not None and ts >= market.expiry_us):
            return errors.MARKET_CLOSED, 0  # expired, even before the tick that settles it
        if book.halted:
            return errors.MARKET_HALTED, 0
        if lots <= 0:
            return errors.SIZE_TOO_SMALL, 0
        if lots * market.lot_atoms > MAX_ORDER_ATOMS:
            return errors.SIZE_TOO_LARGE, 0
        if client_id is not None:
            holder = acct.client_ids.get(client_id)
            if holder is not None and holder is not replacing:
                return errors.DUPLICATE_CLIENT_ID, 0
        limit = 0
        if type_ == "limit":
            if price is None:
                return errors.MISSING_PRICE, 0
            if price <= 0:
                return errors.INVALID_PRICE, 0
            if not ioc and lots < market.min_provide_lots:
                since = ts - HOUR_US
                if sum(1 for t in acct.small_provides if t > since) >= SMALL_PROVIDES_PER_HOUR:
                    return errors.SIZE_TOO_SMALL_FOR_PROVIDE, 0
            limit = price
        elif type_ == "market":
            if post_only:
                return "Invalid parameter postOnly", 0
        else:
            return errors.INVALID_TYPE, 0
        if type_ == "limit" and book.anchor:
            allowed = prices.bounds(book)
            if allowed is not None and not allowed[0] <= limit <= allowed[1]:
                return errors.PRICE_BAND, 0
        touch = book.asks.top if is_buy else book.bids.top
        if touch:
            if is_buy:
                cap = touch * (100 + market.band_percent) // 100
                if limit == 0 or limit > cap:
                    limit = cap
            else:
                cap = -(-(touch * (100 - market.band_percent)) // 100)  # product of non-negatives
                if limit == 0 or limit < cap:
                    limit = cap
        if market.is_spot:
            if reduce_only:
                return errors.SPOT_REDUCE_ONLY, 0
            if limit == 0:
                return "", 0
            if is_buy:
                # the notional plus the taker fee it may pay in USD, at the highest tier's rate
                need = lots * limit * market.tick_value
                need += fee(need, TIERS[0][2])
                if replacing is not None and replacing.side == BUY:
                    need -= replacing.remaining * replacing.price * market.tick_value
                if need > acct.available(USD):
                    return errors.NOT_ENOUGH_BALANCES, 0
                # USD that backs futures margin is not available to spend (FTX's availableWithoutBorrow)
                if acct.positions and need > 0 and free_collateral(self, acct) < need:
                    return errors.NOT_ENOUGH_MARGIN, 0
            else:
                if acct.positions and below_maintenance(self, acct):
                    return errors.NOT_ENOUGH_MARGIN, 0
                need = lots * book.lot_units
                if replacing is not None and replacing.side == SELL:
                    need -= replacing.remaining * book.lot_units
                if need > acct.available(market.base):
                    return errors.NOT_ENOUGH_BALANCES, 0
            return "", limit
        pos = acct.positions.get(market.name)
        size = open_buy = open_sell = 0
        if pos is not None:
            size = pos.size
            open_buy = pos.open_buy
            open_sell = pos.open_sell
        if replacing is not None:
            if replacing.side == BUY:
                open_buy -= replacing.remaining
            else:
                open_sell -= replacing.remaining
        if reduce_only:
            if (size >= 0) if is_buy else (size <= 0):
                return errors.INVALID_REDUCE_ONLY, 0
            if below_maintenance(self, acct):
                return errors.NOT_ENOUGH_MARGIN, 0  # below MMF no orders at all (FTX)
            return "", limit
        if limit == 0:
            return "", 0
        current, after = open_sizes(size, open_buy, open_sell, lots, is_buy)
        if after > current:
            if market.position_limit and after > market.position_limit:
                return errors.SIZE_TOO_LARGE, 0
            # FTX: open orders per side at most max($1m, 1% of ADV), x5 on perpetuals
            side_open = (open_buy if is_buy else open_sell) + lots
            # value = side_open x limit x tick value > the floor, asked without the product, which
            # leaves the compiled engine's machine ints once an operand reaches 2**30
            if side_open * limit > OPEN_SIDE_FLOOR // market.tick_value:
                value = side_open * limit * market.tick_value
                adv = max(book.adv(), self.catalog.coins[market.base].adv_floor)
                cap = max(OPEN_SIDE_FLOOR, adv // 100) * (5 if market.is_perpetual else 1)
                if value > cap:
                    return errors.SIZE_TOO_LARGE, 0
            # OMF >= IMF after the order implies MF >= MMF, so this also keeps out accounts below MMF
            if not margin_checked and free_collateral(self, acct, book, after, limit) < 0:
                return errors.NOT_ENOUGH_MARGIN, 0
        elif not margin_checked and below_maintenance(self, acct):
            return errors.NOT_ENOUGH_MARGIN, 0  # below MMF no orders at all (FTX)
        return "", limit

    # ----------------------------------------------------------------------------- order commands

    def _place(self, c: PlaceOrder, ts: int, margin_checked: bool = False) -> list[Event]:
        acct = self.account(c.account)
        if acct is None:
            return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
        book = self.books.get(c.market)
        if book is None:
            return [Rejected(errors.no_such_market(c.market))]
        market = book.info
        err, limit = self._check(
            acct,
            book,
            c.side,
            c.size,
            c.price,
            c.type,
            c.ioc,
            c.post_only,
            c.reduce_only,
            c.client_id,
            None,
            ts,
            margin_checked,
        )
        if err:
            return [Rejected(err)]
        is_market = c.type == "market"
        order = Order(
            self.next_order_id,
            acct.id,
            book,
            c.side,
            limit,
            c.size,
            c.type,
            c.ioc or is_market,
            c.post_only,
            c.reduce_only,
            c.client_id,
            ts,
        )
        self.next_order_id += 1
        events: list[Event] = [
            OrderAccepted(
                order.id,
                acct.id,
                market.name,
                c.side,
                None if is_market else order.price,  # after any band cap
                c.size,
                c.type,
                c.ioc,
                c.post_only,
                c.reduce_only,
                c.client_id,
                ts,
            )
        ]
        self._submit(acct, book, order, ts, events)
        return events

    def _submit(self, acct: Account, book: Book, order: Order, ts: int, events: list[Event]) -> None:
        """Match an accepted order, then rest what is left or expire it."""
        if not order.ioc and order.size < book.info.min_provide_lots:
            acct.note_small_provide(ts, HOUR_US)
        if order.price == 0:  # a market order with nothing on the other side
            self._expire(acct, order, "ioc", ts, events)
            return
        is_buy = order.side == BUY
        touch = book.asks.top if is_buy else book.bids.top
        if touch and (touch <= order.price if is_buy else touch >= order.price):
            if order.post_only:
                self._expire(acct, order, "post_only", ts, events)
                return
            self._match(acct, book, order, ts, events)
            if self._refit:
                self._refit_reduce_only(ts, events)
        if order.remaining and order.reduce_only:
            pos = acct.positions.get(book.market)
            allowed = 0
            if pos is not None:
                allowed = reducible(pos.size, order.side)
                if pos.reduce_only_orders:  # what other resting reduce-only orders already cover
                    for other in acct.orders.values():
                        if other.reduce_only and other.market == order.market and other.side == order.side:
                            allowed -= other.remaining
            if allowed < order.remaining:
                order.remaining = allowed if allowed > 0 else 0
        if not order.remaining:
            self._expire(acct, order, "filled" if order.filled == order.size else "reduce_only", ts, events)
        elif order.ioc:
            self._expire(acct, order, "ioc", ts, events)
        else:
            self._rest(acct, book, order)

    def _rest(self, acct: Account, book: Book, order: Order) -> None:
        market = book.info
        order.status = "open"
        if order.side == BUY:
            book.bids.add(order)
        else:
            book.asks.add(order)
        acct.add_order(order)
        if market.is_spot:
            if order.side == BUY:
                acct.reserve(USD, order.remaining * order.price * market.tick_value)
            else:
                acct.reserve(market.base, order.remaining * book.lot_units)
        else:
            pos = acct.position(book)
            if order.side == BUY:
                pos.open_buy += order.remaining
            else:
                pos.open_sell += order.remaining
            if order.reduce_only:
                pos.reduce_only_orders += 1

    def _expire(self, acct: Account, order: Order, reason: str, ts: int, events: list[Event]) -> None:
        """Close an order that never rested."""
        order.status = "closed"
        order.remaining = 0
        acct.remember_closed(order.id)
        events.append(OrderClosed(order.id, acct.id, order.market, reason, order.filled, order.size, ts))

    def _unrest(self, acct: Account, order: Order, reason: str, ts: int, events: list[Event]) -> None:
        """Close a resting order that is already out of the book: release what it held."""
        market = order.book.info
        left = order.remaining
        if market.is_spot:
            if order.side == BUY:
                acct.reserve(USD, -(left * order.price * market.tick_value))
            else:
                acct.reserve(market.base, -(left * order.book.lot_units))
        else:
            pos = acct.positions[order.market]
            if order.side == BUY:
                pos.open_buy -= left
            else:
                pos.open_sell -= left
            if order.reduce_only:
                pos.reduce_only_orders -= 1
        order.status = "closed"
        order.remaining = 0
        acct.forget(order)
        events.append(OrderClosed(order.id, acct.id, order.market, reason, order.filled, order.size, ts))

    def _side_of(self, order: Order) -> Side:
        book = order.book
        return book.bids if order.side == BUY else book.asks

    # ----------------------------------------------------------------------------- matching

    def _match(self, acct: Account, book: Book, order: Order, ts: int, events: list[Event]) -> None:
        is_buy = order.side == BUY
        limit = order.price
        opposite = book.asks if is_buy else book.bids
        levels = opposite.levels
        accounts = self.accounts
        owner = acct.owner
        name = book.market
        while order.remaining:
            best = opposite.top
            if not best or (best > limit if is_buy else best < limit):
                break
            level = levels[best]
            exhausted = False  # a reduce-only taker whose position is already closed
            while level and order.remaining:
                maker = next(iter(level.values()))
                maker_acct = accounts[maker.account]
                if maker_acct.owner == owner:
                    del level[maker.id]
                    self._unrest(maker_acct, maker, "self_trade", ts, events)
                    continue
                lots = order.remaining if order.remaining < maker.remaining else maker.remaining
                if maker.reduce_only:
                    allowed = reducible(maker_acct.positions[name].size, maker.side)
                    if not allowed:
                        del level[maker.id]
                        self._unrest(maker_acct, maker, "reduce_only", ts, events)
                        continue
                    if allowed < lots:
                        lots = allowed
                if order.reduce_only:
                    pos = acct.positions.get(name)
                    allowed = reducible(pos.size if pos is not None else 0, order.side)
                    if not allowed:
                        exhausted = True
                        break
                    if allowed < lots:
                        lots = allowed
                self._fill(book, order, acct, maker, maker_acct, lots, best, ts, events)
                if not maker.remaining:
                    del level[maker.id]
                    maker.status = "closed"
                    maker_acct.forget(maker)
                    if maker.reduce_only:
                        maker_acct.positions[name].reduce_only_orders -= 1
                    events.append(
                        OrderClosed(maker.id, maker.account, name, "filled", maker.filled, maker.size, ts)
                    )
            if not level:
                opposite.drop_level(best)
            if exhausted:
                break
        book.stale = True

    def _fill(
        self,
        book: Book,
        taker: Order,
        taker_acct: Account,
        maker: Order,
        maker_acct: Account,
        lots: int,
        price: int,
        ts: int,
        events: list[Event],
    ) -> None:
        market = book.info
        value = lots * (price * market.tick_value)
        day = ts // DAY_US
        taker_volume = taker_acct.volume
        if taker_volume.day != day:
            taker_volume.roll(day)
        maker_volume = maker_acct.volume
        if maker_volume.day != day:
            maker_volume.roll(day)
        taker_fee = fee(value, taker_volume.taker_rate)
        taker_is_buy = taker.side == BUY
        taker_realized = maker_realized = 0
        if market.is_spot:
            base = market.base
            atoms = lots * book.lot_units  # ledger units (shares, for a coin held in shares)
            if taker_is_buy:
                ledger.spot(taker_acct, maker_acct, base, atoms, value)
            else:
                ledger.spot(maker_acct, taker_acct, base, atoms, value)
            if taker_is_buy:  # the maker sold: its coins were held; it receives (and pays fees in) USD
                maker_acct.reserve(base, -atoms)
                maker_fee_coin = USD
                maker_fee = fee(value, maker_volume.maker_rate)
            else:  # the maker bought: its USD was held; it receives (and pays fees in) the coin
                maker_acct.reserve(USD, -value)
                if book.units == 1:
                    maker_fee_coin = base
                    maker_fee = fee(atoms, maker_volume.maker_rate)
                else:  # a coin held in shares: the fee in USD, so fee revenue never rebases (ours)
                    maker_fee_coin = USD
                    maker_fee = fee(value, maker_volume.maker_rate)
        else:
            maker_fee_coin = USD
            maker_fee = fee(value, maker_volume.maker_rate)
            signed = lots if taker_is_buy else -lots
            taker_pos, taker_realized = settle(taker_acct, book, signed, value)
            maker_pos, maker_realized = settle(maker_acct, book, -signed, value)
            if taker_is_buy:
                maker_pos.open_sell -= lots
            else:
                maker_pos.open_buy -= lots
            if taker_pos.reduce_only_orders:
                self._refit.append((taker_acct, taker_pos))
            if maker_pos.reduce_only_orders:
                self._refit.append((maker_acct, maker_pos))
        ledger.trade(self, day, taker_acct, taker_fee, maker_acct, maker_fee_coin, maker_fee)
        if taker_volume.taker_counted:  # a product pays a share of it later (fees.Volume.take_taker)
            taker_volume.add_taker(taker_fee, value)
        taker_volume.add(value)
        maker_volume.add(value)
        if book.volume_day != day:
            _roll_volume(book, day)
        book.volume_today += value
        minute = ts // MINUTE_US  # the rolling 24-hour volume (volume.py), by the fill's minute
        if book.volume_minute != minute:
            roll_minute(book, minute)
        book.volume_minute_atoms += value
        taker.filled += lots
        taker.remaining -= lots
        taker.fill_value += lots * price
        maker.filled += lots
        maker.remaining -= lots
        maker.fill_value += lots * price
        book.last = price
        events.append(
            Fill(
                self.next_trade_id,
                market.name,
                price,
                lots,
                taker.side,
                taker.id,
                maker.id,
                taker_acct.id,
                maker_acct.id,
                taker_fee,
                USD,
                maker_fee,
                maker_fee_coin,
                taker_realized,
                maker_realized,
                ts,
                taker.liquidation,
            )
        )
        self.next_trade_id += 1

    def refit_reduce_only(self, acct: Account, pos: Position, ts: int, events: list[Event]) -> None:
        """Refit one position's reduce-only orders after a change made off the book."""
        self._refit.append((acct, pos))
        self._refit_reduce_only(ts, events)

    def _refit_reduce_only(self, ts: int, events: list[Event]) -> None:
        """After a match, cut resting reduce-only orders down to what their positions can still
        reduce (oldest first), and cancel those that can reduce nothing, so they never add open
        size that was not margin-checked."""
        pending = self._refit
        self._refit = []
        for acct, pos in pending:
            room_buy = reducible(pos.size, BUY)
            room_sell = reducible(pos.size, SELL)
            for order in list(acct.orders.values()):
                if order.market != pos.market or not order.reduce_only:
                    continue
                room = room_buy if order.side == BUY else room_sell
                if not room:
                    self._side_of(order).remove(order)
                    self._unrest(acct, order, "reduce_only", ts, events)
                    continue
                if order.remaining > room:
                    if order.side == BUY:
                        pos.open_buy -= order.remaining - room
                    else:
                        pos.open_sell -= order.remaining - room
                    order.remaining = room
                    events.append(OrderResized(order.id, acct.id, order.market, room, ts))
                if order.side == BUY:
                    room_buy -= order.remaining
                else:
                    room_sell -= order.remaining

    # ----------------------------------------------------------------------------- cancel, modify

    def _find(self, acct: Account, order_id: int | None, client_id: str | None) -> tuple[Order | None, str]:
        if client_id is not None:
            by_client = acct.client_ids.get(client_id)
            return by_client, ("" if by_client is not None else errors.ORDER_NOT_FOUND)
        if order_id is None:
            return None, errors.ORDER_NOT_FOUND
        order = acct.orders.get(order_id)
        if order is not None:
            return order, ""
        if acct.closed(order_id):
            return None, errors.ORDER_ALREADY_CLOSED
        return None, errors.ORDER_NOT_FOUND

    def _cancel(self, c: CancelOrder, ts: int) -> list[Event]:
        acct = self.account(c.account)
        if acct is None:
            return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
        if acct.liquidation:
            return [Rejected(errors.LIQUIDATING)]
        order, err = self._find(acct, c.order_id, c.client_id)
        if order is None:
            return [Rejected(err)]
        events: list[Event] = []
        self._side_of(order).remove(order)
        self._unrest(acct, order, "cancelled", ts, events)
        return events

    def _cancel_all(self, c: CancelAll, ts: int) -> list[Event]:
        acct = self.account(c.account)
        if acct is None:
            return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
        if c.market is not None and c.market not in self.books:
            return [Rejected(errors.no_such_market(c.market))]
        if c.side is not None and c.side != BUY and c.side != SELL:
            return [Rejected(errors.INVALID_SIDE)]
        if acct.liquidation:
            return [Rejected(errors.LIQUIDATING)]
        events: list[Event] = []
        if not c.limit_only:
            conditional.cancel_for(self, acct.id, c.market, c.side, "cancelled", ts, events)
        if c.conditional_only:
            return events
        for order in list(acct.orders.values()):
            if (c.market is None or order.market == c.market) and (c.side is None or order.side == c.side):
                self._side_of(order).remove(order)
                self._unrest(acct, order, "cancelled", ts, events)
        return events

    def _mass_quote(self, c: MassQuote, ts: int) -> list[Event]:
        """CancelAll(market, limit_only) and one post-only PlaceOrder per pair (commands.py), in
        one pass: the ladder's cancels take the book's touch once per side (`Side.remove_all`),
        and on a futures market its orders are checked and placed by `_quote_side` without a
        command per level, the checks every level shares made once. The same orders, events and
        state as the commands it stands for (tests/unit/test_mass_quote.py holds them equal)."""
        acct = self.account(c.account)
        if acct is None:
            return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
        book = self.books.get(c.market)
        if book is None:
            return [Rejected(errors.no_such_market(c.market))]
        if len(c.bids) % 2 or len(c.asks) % 2:
            return [Rejected(errors.INVALID_SIZE)]  # a price without its size
        if acct.liquidation:
            return [Rejected(errors.LIQUIDATING)]  # what the CancelAll would answer
        events: list[Event] = []
        if acct.orders:
            self._cancel_ladder(acct, book, ts, events)
        # open size only grows along the ladder and IMF grows with it, so free collateral at
        # the whole ladder's open size >= 0 means every order on the way passes (and, IMF being
        # above MMF, the account is above maintenance); otherwise each order is checked alone
        bids, asks = c.bids, c.asks
        bought = sold = 0
        sized = True  # every size > 0: a bad size is refused alone, not netted
        for i in range(1, len(bids), 2):
            bought += bids[i]
            if bids[i] <= 0:
                sized = False
        for i in range(1, len(asks), 2):
            sold += asks[i]
            if asks[i] <= 0:
                sized = False
        pos = acct.positions.get(c.market)
        # its old orders in this market cancelled above, the ladder is all that will rest here
        after = open_size(0 if pos is None else pos.size, bought, sold)
        checked = (
            sized
            and not book.info.is_spot
            and book.mark() is not None
            and free_collateral(self, acct, book, after, 0) >= 0
        )
        refused: list[Event] = []
        if book.info.is_spot:  # spot: each pair through the order path (holds, not margin)
            for side, ladder in ((BUY, c.bids), (SELL, c.asks)):
                for i in range(0, len(ladder), 2):
                    price, lots = ladder[i], ladder[i + 1]
                    order = PlaceOrder(ts, c.account, c.market, side, lots, price, "limit", False, True)
                    placed = self._place(order, ts, checked)
                    if placed and isinstance(placed[0], Rejected):
                        refused.extend(placed)
                    else:
                        events.extend(placed)
        else:
            allowed = prices.bounds(book) if book.anchor else None  # no order moves what it reads
            if c.bids:
                self._quote_side(acct, book, True, c.bids, checked, allowed, ts, events, refused)
            if c.asks:
                self._quote_side(acct, book, False, c.asks, checked, allowed, ts, events, refused)
        if refused:
            events.extend(refused)
        return events

    def _cancel_ladder(self, acct: Account, book: Book, ts: int, events: list[Event]) -> None:
        """The account's resting orders in `book` cancelled as CancelAll(market) does, in the
        order it does (the account's, oldest first), each side's touch found once at the end."""
        mine = [order for order in acct.orders.values() if order.book is book]
        if not mine:
            return
        bids = [order for order in mine if order.side == BUY]
        if bids:
            book.bids.remove_all(bids)
        if len(bids) < len(mine):
            book.asks.remove_all([order for order in mine if order.side != BUY])
        if book.info.is_spot:
            for order in mine:
                self._unrest(acct, order, "cancelled", ts, events)
            return
        # `_unrest` of each for a futures market, the closed ids remembered at once
        pos = acct.positions[book.market]
        aid = acct.id
        name = book.market
        for order in mine:
            left = order.remaining
            if order.side == BUY:
                pos.open_buy -= left
            else:
                pos.open_sell -= left
            if order.reduce_only:
                pos.reduce_only_orders -= 1
            order.status = "closed"
            order.remaining = 0
            events.append(OrderClosed(order.id, aid, name, "cancelled", order.filled, order.size, ts))
        acct.forget_all(mine)

    def _quote_side(
        self,
        acct: Account,
        book: Book,
        is_buy: bool,
        ladder: tuple[int, ...],
        checked: bool,
        allowed: tuple[int, int] | None,
        ts: int,
        events: list[Event],
        refused: list[Event],
    ) -> None:
        """One side of a mass quote on a futures market: each (price, size) pair a post-only limit
        order, with `_check`'s rules in `_check`'s order and `_place`'s and `_submit`'s steps for
        such an order (no client id, never reduce-only, never matching: one through the touch
        expires). What every level shares is found once: the account cannot be liquidating here
        (the caller answered that), the market's state, and the price bounds (`allowed`, which
        read the anchor, index and mean premium, none of which an order moves). `checked`: the
        whole ladder's margin was shown sufficient (see `_mass_quote`)."""
        market = book.info
        side = BUY if is_buy else SELL
        n = len(ladder)
        if book.closed or (market.expiry_us is not None and ts >= market.expiry_us):
            refused.extend(Rejected(errors.MARKET_CLOSED) for _ in range(0, n, 2))
            return
        if book.halted:
            refused.extend(Rejected(errors.MARKET_HALTED) for _ in range(0, n, 2))
            return
        low = high = 0
        banded = allowed is not None
        if allowed is not None:
            low, high = allowed
        opposite = book.asks if is_buy else book.bids
        own = book.bids if is_buy else book.asks
        lot_atoms = market.lot_atoms
        min_provide = market.min_provide_lots
        band = market.band_percent
        tick_value = market.tick_value
        floor_units = OPEN_SIDE_FLOOR // tick_value  # the floor in lots x ticks
        position_limit = market.position_limit
        name = market.name
        aid = acct.id
        pos = acct.positions.get(name)
        for i in range(0, n, 2):
            price = ladder[i]
            lots = ladder[i + 1]
            if lots <= 0:
                refused.append(Rejected(errors.SIZE_TOO_SMALL))
                continue
            if lots * lot_atoms > MAX_ORDER_ATOMS:
                refused.append(Rejected(errors.SIZE_TOO_LARGE))
                continue
            if price <= 0:
                refused.append(Rejected(errors.INVALID_PRICE))
                continue
            small = lots < min_provide
            if small:
                since = ts - HOUR_US
                if sum(1 for t in acct.small_provides if t > since) >= SMALL_PROVIDES_PER_HOUR:
                    refused.append(Rejected(errors.SIZE_TOO_SMALL_FOR_PROVIDE))
                    continue
            if banded and not low <= price <= high:
                refused.append(Rejected(errors.PRICE_BAND))
                continue
            limit = price  # > 0, and a cap through a touch is never below the touch: never 0
            touch = opposite.top
            if touch:
                if is_buy:
                    cap = touch * (100 + band) // 100
                    if limit > cap:
                        limit = cap
                else:  # rounded up; non-negative products only (machine ints when compiled)
                    cap = (touch * (100 - band) + 99) // 100
                    if limit < cap:
                        limit = cap
            size = open_buy = open_sell = 0
            if pos is not None:
                size = pos.size
                open_buy = pos.open_buy
                open_sell = pos.open_sell
            current, after = open_sizes(size, open_buy, open_sell, lots, is_buy)
            if after > current:
                if position_limit and after > position_limit:
                    refused.append(Rejected(errors.SIZE_TOO_LARGE))
                    continue
                side_open = (open_buy if is_buy else open_sell) + lots
                if side_open * limit > floor_units:  # value > OPEN_SIDE_FLOOR (see `_check`)
                    value = side_open * limit * tick_value
                    adv = max(book.adv(), self.catalog.coins[market.base].adv_floor)
                    cap = max(OPEN_SIDE_FLOOR, adv // 100) * (5 if market.is_perpetual else 1)
                    if value > cap:
                        refused.append(Rejected(errors.SIZE_TOO_LARGE))
                        continue
                if not checked and free_collateral(self, acct, book, after, limit) < 0:
                    refused.append(Rejected(errors.NOT_ENOUGH_MARGIN))
                    continue
            elif not checked and below_maintenance(self, acct):
                refused.append(Rejected(errors.NOT_ENOUGH_MARGIN))
                continue
            order_id = self.next_order_id
            self.next_order_id = order_id + 1
            order = Order(order_id, aid, book, side, limit, lots, "limit", False, True, False, None, ts)
            events.append(
                OrderAccepted(order_id, aid, name, side, limit, lots, "limit", False, True, False, None, ts)
            )
            if small:
                acct.note_small_provide(ts, HOUR_US)
            if touch and (touch <= limit if is_buy else touch >= limit):  # through the touch
                self._expire(acct, order, "post_only", ts, events)
                continue
            order.status = "open"
            own.add(order)
            acct.add_order(order)
            if pos is None:
                pos = acct.position(book)
            if is_buy:
                pos.open_buy += lots
            else:
                pos.open_sell += lots

    def _modify(self, c: ModifyOrder, ts: int) -> list[Event]:
        """FTX's modify: cancel and replace with a new id and a new place in the queue. Unlike
        FTX's, it is atomic: if the replacement would be rejected, the old order stays as it was."""
        acct = self.account(c.account)
        if acct is None:
            return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
        if acct.liquidation:
            return [Rejected(errors.LIQUIDATING)]
        old, err = self._find(acct, c.order_id, c.client_id)
        if old is None:
            return [Rejected(err)]
        if c.price is None and c.size is None:
            return [Rejected(errors.MUST_MODIFY)]
        book = self.books[old.market]
        price = old.price if c.price is None else c.price
        size = old.remaining if c.size is None else c.size
        client_id = old.client_id if c.new_client_id is None else c.new_client_id
        err, limit = self._check(
            acct,
            book,
            old.side,
            size,
            price,
            "limit",
            old.ioc,
            old.post_only,
            old.reduce_only,
            client_id,
            old,
            ts,
        )
        if err:
            return [Rejected(err)]
        events: list[Event] = []
        self._side_of(old).remove(old)
        self._unrest(acct, old, "modified", ts, events)
        order = Order(
            self.next_order_id,
            acct.id,
            book,
            old.side,
            limit,
            size,
            "limit",
            old.ioc,
            old.post_only,
            old.reduce_only,
            client_id,
            ts,
        )
        self.next_order_id += 1
        events.append(
            OrderAccepted(
                order.id,
                acct.id,
                book.market,
                old.side,
                order.price,
                size,
                "limit",
                old.ioc,
                old.post_only,
                old.reduce_only,
                client_id,
                ts,
            )
        )
        self._submit(acct, book, order, ts, events)
        return events

    # ----------------------------------------------------------------------------- for the risk engine

    def place_order(self, c: PlaceOrder, ts: int) -> list[Event]:
        """An order sent on an account's behalf (a trigger order firing): the same checks as any."""
        return self._place(c, ts)

    def cancel_order(self, acct: Account, order: Order, reason: str, ts: int, events: list[Event]) -> None:
        self._side_of(order).remove(order)
        self._unrest(acct, order, reason, ts, events)

    def cancel_account_orders(self, acct: Account, reason: str, ts: int, events: list[Event]) -> None:
        for order in list(acct.orders.values()):
            self.cancel_order(acct, order, reason, ts, events)

    # ----------------------------------------------------------------------------- coins held in shares

    def set_units(self, coin: str, units: int, ts: int, events: list[Event]) -> None:
        """Hold `coin` in shares of its supply, `units` shares per atom (a rebasing coin: its
        product changes this one number to rebase every holder at once, Ampleforth's "gons").

        The ledger then holds the coin in shares everywhere (balances, holds of open orders, pools,
        supply, deposits and withdrawals), so no holder's share of supply moves, and
        converts where an amount of the coin meets it: a spot book's lots (`Book.lot_units`), a
        deposit, withdrawal or transfer, and valuation (margin, risk, liquidation divide by
        `Book.units`). A balance shown to a person is `shares // units`: what the rounding leaves
        (under one atom) stays the holder's, as with Ampleforth.

        A maker buying the coin on its book pays its fee in USD, not in the coin (FTX's rule for
        spot makers), so fee revenue is never held in a coin that rebases (ours).

        When the value changes, every order resting on the coin's spot books is cancelled first
        (reason REBASE_CANCEL): its size and price are in coin atoms, whose value the change just
        moved, and what it holds was reckoned in the old units (exchanges cancel open orders on a
        corporate action for the same reason). Its cost grows with those orders, never with holders."""
        if units <= 0:
            raise ValueError(f"{coin}: units must be positive, not {units}")
        before = self.units.get(coin)
        if before == units:
            return
        if before is not None:
            for book in self.books_on.get(coin, ()):
                if book.info.is_spot:
                    for side in (book.bids, book.asks):
                        for order in list(side.orders()):
                            self.cancel_order(self.accounts[order.account], order, REBASE_CANCEL, ts, events)
        self.apply_units(coin, units)

    def atoms_of(self, coin: str, held: int) -> int:
        """The atoms of `coin` a ledger amount is: itself, but shares // units for a coin held in
        shares (rounded down; what a holder sees and can move)."""
        units = self.units.get(coin)
        return held if units is None else held // units

    def apply_units(self, coin: str, units: int) -> None:
        """Record `units` for `coin` and give its spot books their lot size in shares (no orders
        touched: `set_units` for a change, this on restore)."""
        priced = self.coin_books.get(coin)
        if priced is not None and not priced.info.is_spot:
            raise ValueError(f"{coin} is priced by {priced.market}: a coin held in shares needs a spot book")
        self.units[coin] = units
        for book in self.books_on.get(coin, ()):
            if book.info.is_spot:
                book.units = units
                book.lot_units = book.info.lot_atoms * units

    def place_liquidation_order(
        self,
        acct: Account,
        book: Book,
        side: str,
        lots: int,
        price: int,
        ioc: bool,
        ts: int,
        events: list[Event],
        mf: int,
        mmf: int,
        cap_left: int,
    ) -> None:
        """An order the risk engine sends for an account: reduce-only on futures (a sale of held
        coins on spot), past the account's trading ban, through the same matching as any other."""
        spot = book.info.is_spot
        order = Order(
            self.next_order_id, acct.id, book, side, price, lots, "limit", ioc, False, not spot, None, ts
        )
        order.liquidation = True
        self.next_order_id += 1
        events.append(
            OrderAccepted(
                order.id,
                acct.id,
                book.market,
                side,
                price,
                lots,
                "limit",
                ioc,
                False,
                not spot,
                None,
                ts,
                True,
            )
        )
        events.append(
            LiquidationOrder(acct.id, book.market, order.id, side, lots, price, mf, mmf, cap_left, ts)
        )
        self._submit(acct, book, order, ts, events)

    # ----------------------------------------------------------------------------- prices and the clock

    def _index_update(self, c: IndexUpdate, ts: int) -> list[Event]:
        if c.coin not in self.catalog.coins:
            return [Rejected(errors.no_such_coin(c.coin))]
        if not c.prices or any(p <= 0 or p > MAX_ATOMS for p in c.prices):
            return [Rejected("Invalid parameter prices")]
        price = prices.median(c.prices)
        prices.set_index(self, c.coin, price)
        return [IndexUpdated(c.coin, price, len(c.prices), ts)]

    def _fund_insurance(self, c: FundInsurance, ts: int) -> list[Event]:
        acct = self.account(c.account)
        if acct is None:
            return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
        if c.amount <= 0 or c.amount > MAX_ATOMS:
            return [Rejected(errors.INVALID_SIZE)]
        if not self._can_release(acct, USD, c.amount):
            return [Rejected(errors.NOT_ENOUGH_BALANCES)]
        events: list[Event] = []
        moves = Moves().pay(acct.id, USD, -c.amount).to_fund(c.amount, "seed", acct.id, "")
        err = ledger.apply(self, moves, ts, events)
        return [Rejected(err)] if err else events

    def _set_margin_floor(self, c: SetMarginFloor, ts: int) -> list[Event]:
        book = self.books.get(c.market)
        if book is None:
            return [Rejected(errors.no_such_market(c.market))]
        if book.info.is_spot or not 0 <= c.mmf <= c.imf <= RATE:
            return [Rejected(errors.INVALID_MARGIN_FLOOR)]
        book.imf_floor = c.imf
        book.mmf_floor = c.mmf
        self.dirty.update(book.holders)  # their requirements moved without a price: assess them
        return [MarginFloorSet(c.market, c.imf, c.mmf, ts)]

    def _halt(self, c: HaltMarket, ts: int) -> list[Event]:
        book = self.books.get(c.market)
        if book is None:
            return [Rejected(errors.no_such_market(c.market))]
        book.halted = c.halted
        book.stale = True
        return [MarketHalted(c.market, c.halted, ts)]

    def _tick(self, ts: int) -> list[Event]:
        """One second of the 24x7 risk engine: risk bands, funding, expiry, trigger orders, the
        products' hooks, then the sweep (and the clawback of any shortfall of the fund)."""
        events: list[Event] = []
        dt = ts - self.clock if self.clock else SECOND_US
        if dt <= 0 and self.clock:
            return events  # a second tick at the same time does nothing more
        self.clock = ts
        prices.on_tick(self, dt)
        funding.on_tick(self, ts, dt, events)
        expiry.on_tick(self, ts, dt, events)
        conditional.on_tick(self, ts, events)
        for product in self.products:  # time-driven product work, before the drift and the sweep
            product.on_tick(self, ts, events)
        self.drift += prices.measure_drift(self)  # after everything above that can move a mark
        liquidation.sweep(self, ts, events)
        insurance.settle_shortfall(self, ts, events)
        return events


def _roll_volume(book: Book, day: int) -> None:
    """Start a new day of market volume, keeping the last 30 for the ADV."""
    if book.volume_today:
        book.volume_days[book.volume_day] = book.volume_today
    book.volume_today = 0
    book.volume_day = day
    for old in [d for d in book.volume_days if d <= day - 30]:
        del book.volume_days[old]
    book.past_volume_changed()
