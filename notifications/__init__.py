"""Notices to people: in-app, Web Push, e-mail (delivery, preferences, quiet hours, digests)."""
