"""Builders for hand-written eval conversations."""

from tooltune.core.tools import load_tools
from tooltune.core.types import Conversation, Message, make_call


def conv(kind, *messages, tools=None, cid=None):
    meta = {"kind": kind}
    if cid:
        meta["id"] = cid
    return Conversation(messages=list(messages), tools=tools or load_tools("taskapi"), meta=meta)


def user(text):
    return Message(role="user", content=text)


def assistant(content=None, calls=None):
    return Message(role="assistant", content=content, tool_calls=calls)


def tool_result(call, content):
    return Message(role="tool", tool_call_id=call.id, content=content)


def call(name, **args):
    return make_call(name, args)
