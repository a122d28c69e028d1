"""What a call's tools and the API can ask of the line the call runs on.

A browser call can only hang up (its socket closes); a phone call (``bvrai.telephony.control``) is
hung up and transferred through its carrier's REST API and sends DTMF tones down the line.
"""

from __future__ import annotations

from typing import Protocol


class CallControlUnsupported(Exception):
    pass


class CallControl(Protocol):
    async def hangup(self) -> None: ...

    async def transfer(self, number: str) -> None: ...

    async def send_dtmf(self, digits: str) -> None: ...


class WebCallControl:
    async def hangup(self) -> None:
        return None  # the session closing the socket is the whole hang-up

    async def transfer(self, number: str) -> None:
        raise CallControlUnsupported("a browser call cannot be transferred to a phone number")

    async def send_dtmf(self, digits: str) -> None:
        raise CallControlUnsupported("a browser call has no keypad")
