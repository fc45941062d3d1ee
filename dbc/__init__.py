"""Body-network DBC files of the simulated cars and their encode/decode helpers."""
