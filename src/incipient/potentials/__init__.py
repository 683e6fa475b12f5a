"""potentials stage of incipient."""
