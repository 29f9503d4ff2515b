"""The `cjm` command line: the parser (`parser`), the entry point (`main`) and one module per
group of commands: `pipeline` (run, sample), `published` (query, paths, churn-list, graph,
report) and `serve` (serve, notify-on-failure)."""
