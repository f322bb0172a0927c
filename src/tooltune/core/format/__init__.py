"""The one tool-call format: render conversations, parse model output (whole or streamed)."""

from .mask import tokenize_with_mask
from .parse import ParseResult, decode_call, parse_conversation, parse_output
from .prompt_format import FORMAT_FILE, PromptFormat
from .render import Rendered, render, render_assistant_body, render_call, render_prompt, render_tools_block
from .stream import StreamEvent, StreamingParser, collect
from .template import chat_template
from .tokens import IM_END, IM_START, TOOL_CALL_CLOSE, TOOL_CALL_OPEN

__all__ = [
    "FORMAT_FILE", "IM_END", "IM_START", "TOOL_CALL_CLOSE", "TOOL_CALL_OPEN", "ParseResult", "PromptFormat",
    "Rendered", "StreamEvent", "StreamingParser", "chat_template", "collect", "decode_call",
    "parse_conversation", "parse_output", "render", "render_assistant_body", "render_call", "render_prompt",
    "render_tools_block", "tokenize_with_mask",
]
