"""Durability: the command journal, snapshots, and recovery (latest snapshot + journal tail)."""
