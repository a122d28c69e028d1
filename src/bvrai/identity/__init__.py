"""Organizations, users, memberships and roles, authentication, API keys and the credentials vault."""
