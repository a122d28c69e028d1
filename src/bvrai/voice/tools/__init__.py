"""Tools the agent's LLM can call during a call: the custom ``http`` tool and its request signing."""

from bvrai.voice.tools.http_tool import HttpTool, ToolResult, ToolStatus
from bvrai.voice.tools.signing import RequestSigner, new_signing_secret

__all__ = ["HttpTool", "RequestSigner", "ToolResult", "ToolStatus", "new_signing_secret"]
