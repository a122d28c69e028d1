"""Agents: the agent spec, drafts and immutable published versions."""
