"""How the export commands hand their JSON over: to a file, or to standard output."""

from __future__ import annotations

import json


def json_write(command, data, *, output: str | None = None, encoder=None) -> None:
    text = json.dumps(data, cls=encoder, ensure_ascii=False, indent=2)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        command.stderr.write(f"Written to {output}")
    else:
        command.stdout.write(text)
