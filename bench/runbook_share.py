"""Share of runbooks in a folder that have steps as written, and after `lint --fix`.

    .venv/bin/python bench/runbook_share.py tests/fixtures/real_shaped [-v]

For the figure before a parser change, run it against the old code, e.g.
``git archive main bot | tar -x -C /tmp/old && PYTHONPATH=/tmp/old .venv/bin/python
bench/runbook_share.py FOLDER``. Pure: reads files, writes nothing.
"""

from __future__ import annotations

import sys

import bot.runbook.parser as parser
from bot.runbook.fix import fix_text
from bot.runbook.library import discover


def main(folder: str, verbose: bool) -> None:
    files, _ = discover([folder])
    runs = fixed = 0
    for file in files:
        raw = file.read_bytes()
        parsed = parser.parse_file(raw, str(file)).runbook
        ok = parsed is not None and parsed.step_count > 0
        runs += ok
        try:
            after = parser.parse_file(fix_text(raw.decode("utf-8"), str(file)), str(file)).runbook
        except UnicodeDecodeError:
            after = None
        fixed += after is not None and after.step_count > 0
        if verbose:
            print(("runs " if ok else "no   ") + str(file))
    total = max(1, len(files))
    print(
        f"{parser.__file__}: {runs}/{len(files)} runbooks have steps as written "
        f"({100 * runs / total:.1f} %), {fixed}/{len(files)} after lint --fix "
        f"({100 * fixed / total:.1f} %)"
    )


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "-v"]
    main(args[0] if args else "runbooks", "-v" in sys.argv[1:])
