"""clcm.filtering."""
