"""The version of msgkit, read by the build and by `msgkit.__version__`."""

__version__ = "0.1.0"
