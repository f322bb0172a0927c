"""Reassemble an OpenAI chat-completions stream the way a client does."""


def reassemble(chunks):
    """(content, calls as dicts with id/name/arguments, finish_reason) from stream chunks."""
    content, calls, finish = "", {}, None
    for ch in chunks:
        if not ch.choices:
            continue
        d = ch.choices[0].delta
        content += d.content or ""
        for tc in d.tool_calls or []:
            slot = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
            if tc.id:
                slot["id"] = tc.id
            if tc.function and tc.function.name:
                slot["name"] = tc.function.name
            if tc.function and tc.function.arguments:
                slot["arguments"] += tc.function.arguments
        finish = ch.choices[0].finish_reason or finish
    return content or None, [calls[i] for i in sorted(calls)], finish
