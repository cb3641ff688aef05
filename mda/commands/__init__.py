"""One module per ``mda`` subcommand, each with ``register(subparsers)``."""
