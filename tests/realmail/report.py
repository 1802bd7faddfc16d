"""``python3 -m tests.realmail.report``: run the realistic corpus on a fresh SQLite desk and
print, per client and per kind, how many mails got what expected.toml says, the overall
score and the misses. Each reply's HTML goes to /tmp/i17/replies/<case>.html (and its text
beside it, .txt) so that it can be rendered and read as the servidor would."""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

from tests.realmail.score import Verdict, misses_table, run, score

REPLIES = Path("/tmp/i17/replies")


def desk(folder: Path):  # type: ignore[no-untyped-def]
    """The test desk (tests.conftest) on a fresh SQLite database in ``folder``."""
    from mailproc.config import load_config
    from mailproc.service.app import App
    from mailproc.storage.schema import upgrade
    from tests.conftest import write_config

    app = App(load_config(write_config(folder, f"sqlite:///{folder}/mailproc.db")))
    upgrade(app.engine)
    return app.start()


def tally(verdicts: list[Verdict], key: str) -> str:
    total: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    for v in verdicts:
        group = getattr(v.case, key)
        total[group] += 1
        passed[group] += v.passed
    rows = [f"{key:12} {'mails':>5} {'as expected':>11}"]
    rows += [f"{group:12} {total[group]:5} {passed[group]:11}" for group in sorted(total)]
    return "\n".join(rows)


def save_replies(verdicts: list[Verdict], folder: Path = REPLIES) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for v in verdicts:
        for number, reply in enumerate(v.got.replies):
            name = v.case.id if number == 0 else f"{v.case.id}.{number + 1}"
            (folder / f"{name}.html").write_text(
                reply.html or f"<pre>{reply.text}</pre>", encoding="utf-8"
            )
            (folder / f"{name}.txt").write_text(reply.text, encoding="utf-8")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="realmail-") as folder:
        app = desk(Path(folder))
        try:
            verdicts = run(app)
        finally:
            app.engine.dispose()
    save_replies(verdicts)
    print(tally(verdicts, "client"), tally(verdicts, "kind"), sep="\n\n", end="\n\n")
    print(f"score: {sum(v.passed for v in verdicts)}/{len(verdicts)} = {score(verdicts):.1%}\n")
    print(misses_table(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
