"""SQL history derived from the engine's events (orders, fills, trades, funding, liquidations,
the insurance fund, wallet movements, trigger orders): SQLite by default, PostgreSQL for scale."""

from backstop.projections.sql import HistoryUnavailable, Page, Projection, ProjectionGap

__all__ = ["HistoryUnavailable", "Page", "Projection", "ProjectionGap"]
