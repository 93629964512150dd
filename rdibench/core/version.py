"""rdibench's version, in the bottom floor so that every floor can record it without importing the package root
(whose lazy API reaches up to the runner)."""

__version__ = "0.1.0"
