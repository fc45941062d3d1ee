"""Suite-wide plugins.

``pytester`` (pytest's own plugin for running pytest inside a test) is used by tests/plugin to
run the ecusim plugin's documented examples in a fresh pytest session. pytest accepts
``pytest_plugins`` only in a top-level conftest (a deeper one is refused when the whole suite
runs), so it is enabled here.
"""

pytest_plugins = ["pytester"]
