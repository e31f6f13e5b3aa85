"""Management commands of the patients app: `seed_demo`."""
