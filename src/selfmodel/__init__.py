"""selfmodel: a personalization gateway for LLM apps."""

__version__ = "0.1.0"
__all__ = ["__version__"]
