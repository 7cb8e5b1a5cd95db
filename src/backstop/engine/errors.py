"""FTX's own error strings, so FTX clients (ccxt) raise the right exception class."""

NOT_ENOUGH_BALANCES = "Not enough balances"
NOT_ENOUGH_MARGIN = "Account does not have enough margin for order"
SIZE_TOO_SMALL = "Size too small"
SIZE_TOO_SMALL_FOR_PROVIDE = "Size too small for provide"
SIZE_TOO_LARGE = "Size too large"
INVALID_PRICE = "Invalid price"
MISSING_PRICE = "Missing parameter price"
ORDER_NOT_FOUND = "Order not found"
ORDER_ALREADY_CLOSED = "Order already closed"
DUPLICATE_CLIENT_ID = "Duplicate client order ID"
SPOT_REDUCE_ONLY = "Spot orders cannot be reduce-only"
INVALID_REDUCE_ONLY = "Invalid reduce-only order"
NO_SUCH_SUBACCOUNT = "No such subaccount"
SUBACCOUNT_EXISTS = "Subaccount already exists"
NOT_AUTHORIZED_SUBACCOUNT = "Not authorized for subaccount-specific access"
MUST_MODIFY = "Must modify either price or size"
INVALID_LEVERAGE = "Invalid parameter leverage"
INVALID_SIDE = "Invalid parameter side"
INVALID_TYPE = "Invalid parameter type"
INVALID_SIZE = "Invalid parameter size"
PRICE_BAND = "Invalid parameter price: too far from the mark or the index (see the market's bounds)"
TRIGGER_TOO_HIGH = "Trigger price too high"
TRIGGER_TOO_LOW = "Trigger price too low"
MARKET_CLOSED = "Market is closed"
MARKET_HALTED = "Market is halted"
LIQUIDATING = "Account is being liquidated"
INVALID_MARGIN_FLOOR = "Invalid margin floor: futures only, with 0 <= mmf <= imf <= 1"
# the command was not journaled (a full or failing disk), so it did nothing: FTX's retry string (503)
JOURNAL_UNAVAILABLE = "Please retry request: the exchange cannot write its journal (disk full or failing)"
REQUEST_UNRECORDED = "Please retry request: the exchange cannot record it (disk full or failing)"
INTERNAL_ERROR = "Internal Error"  # the engine raised applying the command (500)
HISTORY_UNAVAILABLE = "History unavailable: its database is down or catching up. Please try again later"
"""Ours (FTX had no such state): a history read while the SQL history cannot answer; trading goes
on. Status 503; "Please try again" is what ccxt reads as ExchangeNotAvailable."""


def no_such_market(name: object) -> str:
    return f"No such market: {name}"


def no_such_coin(name: object) -> str:
    return f"No such coin: {name}"


def not_withdrawn(coin: str) -> str:
    """A deposit of a coin held in shares (VOL) beyond what was withdrawn of it: the exchange issues
    it, so none exists outside but what left (and none at all before it is issued)."""
    return f"Deposit refused: more {coin} than was ever withdrawn from the exchange"
