"""Key systems: per immobilizer generation, who may start the car and how it is reset."""
