"""What the SQL projection keeps of the OTC desk (projections/schema.py `History`): one row per
event, its fields as the columns, for the API's `/otc/quotes/{id}` and OTC fills and anyone auditing
the desk (every quote with its provider, every fill, every expiry, the providers and their ladder
changes). Amounts in atoms, prices in quote atoms per whole base coin, times in microseconds
(events.py)."""

from __future__ import annotations

from backstop.products.otc import events as ev
from backstop.projections.schema import History, event_table

QUOTES = event_table(
    "otc_quotes",
    "id int, account int, provider int, from_coin text, to_coin text, base text, quote text, side text, "
    "price int, cost int, proceeds int, expiry int, ts int",
    "id",
    "account, ts",
    "provider, ts",
)
FILLS = event_table(
    "otc_fills",
    "id int, account int, provider int, from_coin text, to_coin text, base text, quote text, side text, "
    "price int, cost int, proceeds int, ts int",
    "id",
    "account, ts",
    "provider, ts",
)
EXPIRIES = event_table("otc_expiries", "id int, account int, provider int, reason text, ts int", "id")
PROVIDERS = event_table("otc_providers", "account int, enabled bool, ts int", "account, ts")
LADDERS = event_table(
    "otc_ladders", "account int, base text, quote text, bid_levels int, ask_levels int, ts int", "account, ts"
)

TABLES = (QUOTES, FILLS, EXPIRIES, PROVIDERS, LADDERS)


def history() -> History:
    return History(
        TABLES,
        {
            ev.OtcQuoted: QUOTES,
            ev.OtcQuoteFilled: FILLS,
            ev.OtcQuoteExpired: EXPIRIES,
            ev.OtcProviderRegistered: PROVIDERS,
            ev.OtcLadderSet: LADDERS,
        },
    )
