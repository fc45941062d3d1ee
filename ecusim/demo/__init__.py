"""``ecusim demo``: the bulletin's whole reset procedure in one process
(:mod:`~ecusim.demo.scenario`) and the summary of the CAN trace it writes
(:mod:`~ecusim.demo.trace_summary`)."""
