"""cli stage of incipient."""
