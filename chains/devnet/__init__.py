"""Local devnet: one anvil per EVM chain plus the Solana local endpoint, a generic deployer and the manifest.

Other components read the running devnet only through :mod:`chains.devnet.manifest`.
"""
