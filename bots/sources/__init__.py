"""State sources: what each bot's pure `decide` sees, read from the chain adapters and the risk core."""
