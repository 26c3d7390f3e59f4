"""Runs that start themselves: schedules, signed webhooks and workflow-completion triggers."""
