"""A live order: what the book holds and the API shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backstop.engine.book import Book

FIELDS = (
    "id",
    "account",
    "market",
    "side",
    "price",
    "size",
    "filled",
    "remaining",
    "type",
    "ioc",
    "post_only",
    "reduce_only",
    "client_id",
    "created",
    "fill_value",
    "status",
    "liquidation",
    "book",
)


class Order:
    __slots__ = FIELDS

    def __init__(
        self,
        id: int,
        account: int,
        book: Book,
        side: str,
        price: int,
        size: int,
        type: str,
        ioc: bool,
        post_only: bool,
        reduce_only: bool,
        client_id: str | None,
        created: int,
    ) -> None:
        self.id = id
        self.account = account
        self.book = book  # the book it rests in (state, but not part of the canonical form)
        self.market = book.market
        self.side = side
        self.price = price  # ticks; a market order carries its band-capped price
        self.size = size
        self.filled = 0
        self.remaining = size
        self.type = type
        self.ioc = ioc
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.client_id = client_id
        self.created = created
        self.fill_value = 0  # sum of price * lots over fills, for avgFillPrice
        self.status = "new"  # FTX: new -> open -> closed
        self.liquidation = False  # placed by the risk engine (step 1), not by the account

    def canonical(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.account,
            self.market,
            self.side,
            self.price,
            self.size,
            self.filled,
            self.remaining,
            self.type,
            self.ioc,
            self.post_only,
            self.reduce_only,
            self.client_id,
            self.created,
            self.fill_value,
            self.status,
            self.liquidation,
        )
