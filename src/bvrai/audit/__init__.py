"""Tamper-evident audit log: one hash chain per organization."""
