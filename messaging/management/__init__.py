"""Management commands of the patients app."""
