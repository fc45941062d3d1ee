"""The ``ecusim`` command: one module per subcommand, listed explicitly in :mod:`.main`."""
