"""What the LLM adapter tests share: a conversation with a tool, run through pipecat's aggregators."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import LLMRunFrame, LLMTextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.llm_service import FunctionCallParams

from tests.providers.cloud.harness import Collector, Harness

WEATHER = FunctionSchema(
    name="get_weather",
    description="Current weather in a city",
    properties={"city": {"type": "string"}},
    required=["city"],
)


@dataclass
class Conversation:
    """One user message and the get_weather tool, with the aggregator pair around the LLM (the system
    prompt is the service's ``system_instruction``, as pipecat 1.9+ wants it)."""

    llm: FrameProcessor
    user_text: str = "What's the weather in Paris?"
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    context: LLMContext = field(init=False)
    tap: Collector = field(init=False)

    def __post_init__(self) -> None:
        self.context = LLMContext(
            messages=[{"role": "user", "content": self.user_text}],
            tools=ToolsSchema(standard_tools=[WEATHER]),
        )
        register = getattr(self.llm, "register_function")  # noqa: B009 - LLMService and LLMSwitcher alike
        register("get_weather", self._get_weather)
        self.tap = Collector(FrameDirection.DOWNSTREAM, lambda: None)

    async def _get_weather(self, params: FunctionCallParams) -> None:
        self.tool_calls.append(dict(params.arguments))
        await params.result_callback({"temp_c": 14, "sky": "cloudy"})

    def harness(self) -> Harness:
        pair = LLMContextAggregatorPair(self.context)
        return Harness(pair.user(), self.llm, self.tap, pair.assistant())

    @property
    def text(self) -> str:
        return "".join(f.text for f in self.tap.frames if isinstance(f, LLMTextFrame))

    def assistant_replies(self) -> list[str]:
        return [
            m["content"]
            for m in self.context.get_messages()
            if isinstance(m, dict) and m.get("role") == "assistant" and isinstance(m.get("content"), str)
        ]

    async def run(self, h: Harness, *, replies: int = 1, last: str | None = None, within: float = 5.0) -> list[str]:
        """Ask for a reply; wait until ``replies`` assistant text messages are in the context (and, with
        ``last``, until the latest one is that text)."""

        def done() -> list[str] | None:
            found = self.assistant_replies()
            if len(found) < replies or (last is not None and (not found or found[-1] != last)):
                return None
            return found

        await h.queue(LLMRunFrame())
        result: list[str] = await h.wait_until(done, within)
        return result
