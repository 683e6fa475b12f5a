"""transport stage of incipient."""
