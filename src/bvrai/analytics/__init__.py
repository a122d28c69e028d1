"""Aggregate queries over calls: the overview KPIs and charts."""
