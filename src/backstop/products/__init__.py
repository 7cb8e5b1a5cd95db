"""Products built on the engine's one wallet, each a package of its own (issue 12)."""
