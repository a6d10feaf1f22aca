"""The CLI's subcommands, one module per family; each module has ``register(subparsers)``."""
