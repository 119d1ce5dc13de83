"""qgraph's built-in targets, each a plugin registered like a third-party one (`qgraph.plugins.<name>`)."""
