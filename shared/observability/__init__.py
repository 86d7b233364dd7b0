"""Logs, metrics and trace context shared by the services."""
