"""Keeping the garbage collector off the objects a process keeps for its whole life.

A media process imports pipecat, SQLAlchemy, FastAPI and the providers' SDKs: hundreds of thousands
of objects that live as long as the process. CPython's full collections walk every one of them; with
50 calls on a process they came every few seconds and took 80-280 ms each, during which no call's
audio went out (gaps in ``bench/concurrency.py``). ``gc.freeze()`` moves everything alive at start-up
into a generation collections skip; what calls allocate is collected as before. Import what the
first call would import before freezing, so that it is frozen with the rest.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    gc.collect()
    gc.freeze()
