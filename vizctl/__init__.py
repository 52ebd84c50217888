"""vizctl: ModelArts visualization jobs as code."""

__version__ = "0.1.0"
