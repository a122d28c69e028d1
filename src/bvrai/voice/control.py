"""What a call's tools and the API can ask of the line the call runs on.

A browser call can only hang up; telephony carriers (a later issue) also transfer and send DTMF.
"""

from __future__ import annotations

from typing import Protocol


class CallControlUnsupported(Exception):
    pass


class CallControl(Protocol):
    async def transfer(self, number: str) -> None: ...

    async def send_dtmf(self, digits: str) -> None: ...


class WebCallControl:
    async def transfer(self, number: str) -> None:
        raise CallControlUnsupported("a browser call cannot be transferred to a phone number")

    async def send_dtmf(self, digits: str) -> None:
        raise CallControlUnsupported("a browser call has no keypad")
