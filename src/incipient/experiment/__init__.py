"""experiment stage of incipient."""
