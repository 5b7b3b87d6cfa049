"""Training commands of the CLI, one module per model: each has `DEFAULTS`, `configure(parser)` and `run(args)`."""
