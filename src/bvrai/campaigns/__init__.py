"""Outbound campaigns: contacts from CSV, calling windows, retries, and the dialer."""
