"""Scheduled case conferences: recurrence, agenda, invitations, reminders, calendars, minutes."""
