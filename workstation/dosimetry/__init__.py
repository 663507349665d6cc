"""dosimetry."""
