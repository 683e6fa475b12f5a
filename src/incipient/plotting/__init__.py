"""plotting stage of incipient."""
