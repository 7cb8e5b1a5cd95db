"""What runs the engine for real: the sequencer runtime (the API arrives on top of it)."""
