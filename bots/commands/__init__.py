"""`rtrm` subcommands over the config and the store; each module exposes `register(subparsers)`."""
