"""clcm.pipelines."""
