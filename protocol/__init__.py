"""UDS server core: protocol policy, security algorithms and NVM, with no knowledge of cars."""
