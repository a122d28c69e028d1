"""Telephony: phone numbers, carrier webhooks, carrier media streams and carrier call control.

One module per carrier (``twilio``, ``telnyx``, ``plivo``, ``vonage``) holds its webhooks, the way
its media stream attaches to a call session, and its REST control (place, hang up, transfer).
"""
