"""The zescrow escrow server (issue #3)."""
