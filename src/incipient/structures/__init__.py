"""structures stage of incipient."""
