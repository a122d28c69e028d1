"""Outgoing webhooks: endpoints, events, Standard Webhooks signing, deliveries with retries."""
