"""Alerts: publishers (SNS, local), the Slack notifier, operational alerts."""
