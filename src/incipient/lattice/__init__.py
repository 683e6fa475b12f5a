"""lattice stage of incipient."""
