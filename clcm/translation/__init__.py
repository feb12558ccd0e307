"""clcm.translation."""
