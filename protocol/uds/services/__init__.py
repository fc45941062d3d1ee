"""One module per UDS service; :func:`default_services` lists them explicitly."""
