"""md stage of incipient."""
