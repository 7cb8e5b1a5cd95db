"""The risk lab: real price history replayed through the same engine that runs live, to size the
insurance and guaranty fund and compare margin and liquidation models."""
