"""Operational telemetry: Prometheus metrics at /metrics and the structured status-change log."""
