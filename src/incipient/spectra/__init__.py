"""spectra stage of incipient."""
