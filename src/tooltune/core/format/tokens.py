"""Every delimiter of the tooltune chat format, defined once.

The turn markers are ChatML (SmolLM2, Qwen and many others use them natively);
tool calls follow the Hermes / Qwen 2.5 convention that vLLM's ``hermes`` tool
parser reads: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``.
"""

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"

CALL_SEPARATOR = "\n"
"""Between the content and the first call, and between parallel calls."""

TOOLS_HEADER = "# Tools"
TOOLS_INTRO = "You may call one or more of these functions:"
TOOLS_FOOTER = (
    'To call a function, reply with <tool_call>{"name":NAME,"arguments":{...}}</tool_call>'
    " (one block per call). If no function fits or an argument is missing, answer in words."
)
SYSTEM_SEPARATOR = "\n\n"
"""Between the tools block and the system message's own text."""

ROLE_FOR = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
"""Role name written into the turn header for each message role."""

SPECIAL_TOKENS = (IM_START, IM_END)
"""Tokens that must be single special tokens in any tokenizer used with this format."""

TOOL_TAGS = (TOOL_CALL_OPEN, TOOL_CALL_CLOSE)
"""Tool-call tags; whether these become added tokens is a training choice (see train)."""
