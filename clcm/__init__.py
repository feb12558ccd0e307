"""clcm: pseudo-parallel caption corpora and noise-robust cross-lingual cross-modal retrieval."""

__version__ = "0.1.0"
