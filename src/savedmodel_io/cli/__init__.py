"""The ``savedmodel-io`` command line: one module per subcommand."""
