"""The exchange as a pure, single-threaded state machine: commands in, events out."""
