"""workflows stage of incipient."""
