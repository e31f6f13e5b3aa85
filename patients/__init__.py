"""Whom: patients, consent, care teams, the shared record; and the access gate."""
