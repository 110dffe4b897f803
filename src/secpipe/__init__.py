"""secpipe: run every scanner of a DevSecOps pipeline with one command, keep every finding."""

__version__ = "0.1.0"
