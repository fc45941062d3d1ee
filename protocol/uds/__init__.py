"""A UDS server (ISO 14229-1) as a pure core: request bytes, addressing and time in; bytes out."""
