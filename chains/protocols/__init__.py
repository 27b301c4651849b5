"""Protocol adapters: read accounts, positions and oracles from on-chain protocols into the normalized model,
and build (never send) the call data the bots use. One module per protocol; see README.md and registry.py."""
