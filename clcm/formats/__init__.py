"""clcm.formats."""
