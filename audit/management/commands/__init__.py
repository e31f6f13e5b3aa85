"""Management commands of the audit app: `verify_audit`."""
