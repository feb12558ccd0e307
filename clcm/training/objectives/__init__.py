"""clcm.training.objectives."""
