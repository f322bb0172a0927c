"""An Ollama ``Modelfile`` whose Go ``TEMPLATE`` renders the tooltune format.

Ollama renders prompts with Go's text/template over ``.System`` (the system messages), ``.Tools``
(OpenAI-shaped tools), and ``.Messages`` (``.Role``, ``.Content``, ``.ToolCalls`` with
``.Function.Name`` / ``.Function.Arguments``); ``json`` is one of its template functions. It finds
tool calls in the output by the text that precedes ``.Function.Name`` in the template
(``<tool_call>{"name":"``), as for Qwen 2.5's template. Differences from ``render()``: properties
are listed in Go's (sorted) map order, array types show their item ``type`` only, and arguments
are re-serialised by Go (sorted keys) — the structure and delimiters are identical. With
``tool_style: json`` each function is Go's JSON of Ollama's tool struct (its own key order).
"""

from __future__ import annotations

from pathlib import Path

from ..core.format import PromptFormat
from .common import ExportError
from ..core.format.tokens import (
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


def _go(s: str) -> str:
    """Literal output text inside the template (newlines written out, braces kept as text)."""
    return s.replace("{{", '{{ "{{" }}')


def go_template(fmt: PromptFormat | None = None) -> str:
    """The Go template; ``fmt.tool_style == 'json'`` lists each function as compact JSON."""
    fmt = fmt or PromptFormat()
    if fmt.tool_style == "json":
        tool_line = "{{ json .Function }}"
    else:
        tool_line = (
            "{{ .Function.Name }}("
            "{{ $req := .Function.Parameters.Required }}{{ $first := true }}"
            "{{ range $name, $p := .Function.Parameters.Properties }}"
            "{{ if not $first }}, {{ end }}{{ $first = false }}"
            "{{ $opt := \"?\" }}{{ range $req }}{{ if eq . $name }}{{ $opt = \"\" }}{{ end }}{{ end }}"
            "{{ $name }}{{ $opt }}: "
            "{{ if $p.Enum }}{{ range $j, $e := $p.Enum }}{{ if $j }}|{{ end }}{{ json $e }}{{ end }}"
            "{{ else }}{{ range $j, $t := $p.Type }}{{ if $j }}|{{ end }}"
            "{{ if and (eq $t \"array\") $p.Items }}{{ or $p.Items.type \"any\" }}[]{{ else }}{{ $t }}{{ end }}"
            "{{ end }}{{ end }}"
            "{{ if $p.Description }} /*{{ $p.Description }}*/{{ end }}"
            "{{ end }})"
            "{{ if .Function.Description }} - {{ .Function.Description }}{{ end }}"
        )
    nl = "\n"
    tools_block = (
        _go(TOOLS_HEADER + nl + TOOLS_INTRO)
        + "{{ range .Tools }}" + nl + tool_line + "{{ end }}"
        + nl + _go(TOOLS_FOOTER)
    )
    call = (
        _go(TOOL_CALL_OPEN) + '{"name":"{{ .Function.Name }}","arguments":{{ json .Function.Arguments }}}'
        + _go(TOOL_CALL_CLOSE)
    )
    return (
        "{{ if or .System .Tools }}" + IM_START + "system" + nl
        + "{{ if .Tools }}" + tools_block + "{{ if .System }}" + SYSTEM_SEPARATOR + "{{ end }}{{ end }}"
        + "{{ if .System }}{{ .System }}{{ end }}" + IM_END + nl
        + "{{ end }}"
        + "{{ range $i, $m := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}"
        + "{{ if eq .Role \"user\" }}" + IM_START + "user" + nl + "{{ .Content }}" + IM_END + nl
        + "{{ else if eq .Role \"tool\" }}" + IM_START + "tool" + nl + "{{ .Content }}" + IM_END + nl
        + "{{ else if eq .Role \"assistant\" }}" + IM_START + "assistant" + nl
        + "{{ if .Content }}{{ .Content }}{{ end }}"
        + "{{ range $k, $c := .ToolCalls }}{{ if or $k $m.Content }}" + CALL_SEPARATOR + "{{ end }}" + call + "{{ end }}"
        + "{{ if not $last }}" + IM_END + nl + "{{ end }}"
        + "{{ end }}"
        + "{{ if and $last (ne .Role \"assistant\") }}" + IM_START + "assistant" + nl + "{{ end }}"
        + "{{ end }}"
    )


def modelfile_text(gguf_name: str, fmt: PromptFormat | None = None) -> str:
    template = go_template(fmt)
    if '"""' in template:
        raise ExportError("the template contains \"\"\", which a Modelfile cannot quote")
    return (
        f"# Ollama: ollama create NAME -f Modelfile && ollama run NAME\n"
        f"FROM ./{gguf_name}\n"
        f'TEMPLATE """{template}"""\n'
        f"PARAMETER stop {IM_END}\n"
        f"PARAMETER temperature 0\n"
    )


def write_modelfile(path: str | Path, gguf_name: str, fmt: PromptFormat | None = None) -> Path:
    path = Path(path)
    path.write_text(modelfile_text(gguf_name, fmt))
    return path
