"""Package data of the simulators (pyvisa-sim instrument descriptions)."""
