"""The append-only access log: who read or changed which patient's data, when, from where."""
