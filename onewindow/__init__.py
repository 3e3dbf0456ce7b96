"""OneWindow: efficiency and performance dashboard for government service centers."""

__version__ = "0.1.0"
