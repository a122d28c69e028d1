"""Local fakes of the external services, each a small real server speaking the vendor's wire protocol.

One module per service (``deepgram``, ``openai``, ``anthropic``, ``elevenlabs``), sharing ``server``
(lifecycle on a free 127.0.0.1 port, the run-time failure switch) and ``audio``. Pytest fixtures that
start them are in ``tests.fakes.fixtures``; a conftest opts in with ``from tests.fakes.fixtures import *``.
"""

from tests.fakes.anthropic import AnthropicFake
from tests.fakes.deepgram import DeepgramFake
from tests.fakes.elevenlabs import ElevenLabsFake
from tests.fakes.openai import OpenAIFake
from tests.fakes.server import Failure, FakeService

__all__ = ["AnthropicFake", "DeepgramFake", "ElevenLabsFake", "Failure", "FakeService", "OpenAIFake"]
