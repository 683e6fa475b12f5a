"""analysis stage of incipient."""
