"""``ecusim monitor``: the live view of one car on a bus (:mod:`ecusim.monitor.app`, Textual),
its ``--plain`` log and the JSON-lines events (:mod:`ecusim.monitor.output`), on the passive
decoder :mod:`ecusim.wire` (docs/monitor.md)."""
