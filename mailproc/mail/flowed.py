"""format=flowed text (RFC 3676) joined back into the lines its writer typed.

Thunderbird and other clients send plain text as format=flowed: a long line is cut into
lines of about 72 characters that end in a space, and the reader is to join them again.
Read as they come, the cuts fall inside answers and quotations ('a mensagem "Não foi
possível\nhomologar"'), and nothing that looks for a value on one line finds it.
"""

from __future__ import annotations

from typing import Final

_SIGNATURE_SEPARATOR: Final = "-- "


def unflow(text: str, *, delsp: bool = False) -> str:
    """The lines of ``text`` with the soft breaks of RFC 3676 removed.

    A line ending in a space continues on the next line of the same quote depth (with
    ``DelSp=yes`` that space is removed too); the signature separator "-- " never flows;
    the space a client stuffed in front of a line (or after its quote marks) is removed.
    Quoted lines keep their depth as "> " marks. One pass, linear in the text."""
    lines: list[str] = []
    parts: list[str] = []
    depth = 0
    for line in text.split("\n"):
        marks = len(line) - len(line.lstrip(">"))
        content = line[marks:]
        content = content[1:] if content.startswith(" ") else content
        if parts and marks != depth:  # a flowed line whose continuation changed depth
            lines.append(_quoted(depth, "".join(parts)))
            parts = []
        depth = marks
        flows = content.endswith(" ") and content != _SIGNATURE_SEPARATOR
        parts.append(content[:-1] if flows and delsp else content)
        if not flows:
            lines.append(_quoted(depth, "".join(parts)))
            parts = []
    if parts:
        lines.append(_quoted(depth, "".join(parts)))
    return "\n".join(lines)


def _quoted(depth: int, text: str) -> str:
    return f"{'>' * depth} {text}" if depth else text
