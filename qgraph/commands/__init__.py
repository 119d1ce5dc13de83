"""The `qgraph` subcommands, one module each: `add_parser(sub, loading)` declares its flags and
`run(args)` does the work (its heavy imports inside, so that `--help` stays fast)."""
