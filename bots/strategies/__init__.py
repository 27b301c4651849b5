"""Pure strategies, one module per bot: state in → typed intents with reasons out (no I/O, no clock reads)."""
