"""clcm.training."""
