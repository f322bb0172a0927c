"""The format as a Jinja chat template, so ``tokenizer.apply_chat_template(messages, tools=...)``
(and vLLM, TRL, any HF-based stack) renders exactly what ``render.render`` does.

The assistant body sits in ``{% generation %}`` so that transformers can return the
assistant-token mask itself (``return_assistant_tokens_mask=True``).
"""

from __future__ import annotations

from .prompt_format import PromptFormat
from .tokens import (
    CALL_SEPARATOR,
    IM_END,
    IM_START,
    SYSTEM_SEPARATOR,
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    TOOLS_FOOTER,
    TOOLS_HEADER,
    TOOLS_INTRO,
)


def _lit(s: str) -> str:
    """A Python string as a Jinja string literal."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


_SIGNATURE_MACROS = r"""
{%- macro stype(s) -%}
{%- if s is not mapping -%}{{- 'any' -}}
{%- elif s.enum is defined -%}{%- for v in s.enum -%}{{- v|tojson -}}{{- '|' if not loop.last else '' -}}{%- endfor -%}
{%- elif s.anyOf is defined or s.oneOf is defined -%}{%- for x in (s.anyOf if s.anyOf is defined else s.oneOf) -%}{{- stype(x) -}}{{- '|' if not loop.last else '' -}}{%- endfor -%}
{%- elif s.type is defined and s.type is not string and s.type is iterable -%}{{- s.type|join('|') -}}
{%- elif s.type == 'array' -%}{%- set inner = stype(s['items'] if s['items'] is defined else {}) -%}{{- ('(' ~ inner ~ ')' if '|' in inner else inner) ~ '[]' -}}
{%- elif s.type == 'object' and s.properties is defined -%}{{- '{' ~ sig(s) ~ '}' -}}
{%- elif s.type is defined and s.type -%}{{- s.type -}}
{%- else -%}{{- 'any' -}}
{%- endif -%}
{%- endmacro -%}
{%- macro sig(s) -%}
{%- set req = s.required if s.required is defined else [] -%}
{%- for pname, p in (s.properties if s.properties is defined else {}).items() -%}
{{- pname ~ ('' if pname in req else '?') ~ ': ' ~ stype(p) -}}
{%- if p is mapping and p.description -%}{{- ' /*' ~ p.description ~ '*/' -}}{%- endif -%}
{{- ', ' if not loop.last else '' -}}
{%- endfor -%}
{%- endmacro -%}
{%- macro tool_line(f) -%}
{{- f.name ~ '(' ~ sig(f.parameters if f.parameters is defined else {}) ~ ')' -}}
{%- if f.description -%}{{- ' - ' ~ f.description -}}{%- endif -%}
{%- endmacro -%}
"""

_JSON_MACROS = r"""
{%- macro tool_line(f) -%}
{{- {'name': f.name, 'description': f.description or '', 'parameters': f.parameters if f.parameters is defined else {'type': 'object', 'properties': {}}}|tojson(separators=(',', ':')) -}}
{%- endmacro -%}
"""

_BODY = r"""
{%- macro tools_block(tools) -%}
{{- @HEADER@ ~ '\n' ~ @INTRO@ -}}
{%- for t in tools -%}{{- '\n' ~ tool_line(t.function if t.function is defined else t) -}}{%- endfor -%}
{{- '\n' ~ @FOOTER@ -}}
{%- endmacro -%}
{%- set ns = namespace(start=0, sys=none) -%}
{%- if messages and messages[0].role in ['system', 'developer'] -%}
{%- set ns.sys = messages[0].content or '' -%}{%- set ns.start = 1 -%}
{%- endif -%}
{%- if tools -%}
{%- set ns.sys = tools_block(tools) ~ (@SYSSEP@ ~ ns.sys if ns.sys else '') -%}
{%- endif -%}
{%- if ns.sys is not none -%}{{- @IMS@ ~ 'system\n' ~ ns.sys ~ @IME@ ~ '\n' -}}{%- endif -%}
{%- for m in messages[ns.start:] -%}
{%- if m.role == 'assistant' -%}
{{- @IMS@ ~ 'assistant\n' -}}
{%- generation -%}
{%- set part = namespace(first=true) -%}
{%- if m.content -%}{{- m.content -}}{%- set part.first = false -%}{%- endif -%}
{%- for tc in (m.tool_calls or []) -%}
{%- set f = tc.function if tc.function is defined else tc -%}
{%- set a = f.arguments if f.arguments is defined else {} -%}
{{- ('' if part.first else @CALLSEP@) ~ @OPEN@ ~ '{"name":' ~ (f.name|tojson) ~ ',"arguments":' ~ (a if (a is string and a) else (a or {})|tojson(separators=(',', ':'))) ~ '}' ~ @CLOSE@ -}}
{%- set part.first = false -%}
{%- endfor -%}
{{- @IME@ -}}
{%- endgeneration -%}
{{- '\n' -}}
{%- else -%}
{{- @IMS@ ~ ('system' if m.role == 'developer' else m.role) ~ '\n' ~ (m.content or '') ~ @IME@ ~ '\n' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- @IMS@ ~ 'assistant\n' -}}{%- endif -%}
"""


def chat_template(fmt: PromptFormat | None = None) -> str:
    fmt = fmt or PromptFormat()
    macros = _SIGNATURE_MACROS if fmt.tool_style == "signature" else _JSON_MACROS
    body = _BODY
    for key, value in {
        "@HEADER@": TOOLS_HEADER,
        "@INTRO@": TOOLS_INTRO,
        "@FOOTER@": TOOLS_FOOTER,
        "@SYSSEP@": SYSTEM_SEPARATOR,
        "@IMS@": IM_START,
        "@IME@": IM_END,
        "@CALLSEP@": CALL_SEPARATOR,
        "@OPEN@": TOOL_CALL_OPEN,
        "@CLOSE@": TOOL_CALL_CLOSE,
    }.items():
        body = body.replace(key, _lit(value))
    return (macros + body).strip()
