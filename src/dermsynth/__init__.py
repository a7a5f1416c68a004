"""dermsynth: the two synthetic-dermatology studies as one reproducible Snakemake graph."""

__version__ = "0.1.0"
