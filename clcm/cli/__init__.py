"""clcm.cli."""
