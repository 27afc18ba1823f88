"""What a usage file import did: rows inserted and replaced, lines rejected (with reasons), where strict mode
stopped.

Its own module because both the import loop (file_import.py) and the batch writer (file_writes.py) add to it:
the writer rejects the lines of unknown or deleted subscriptions only once it has read them from the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from resolvers.usage.validation import FieldProblem

# Rejected lines kept with their reasons; beyond this only the count grows (constant memory on bad files).
# Every one of them still reaches the `rejects` callback (the CLI's --rejects file).
MAX_REPORTED_PROBLEMS = 1_000

Rejects = Callable[[Sequence[FieldProblem]], None]  # every rejected line's problems, as they are found


@dataclass
class ImportSummary:
    inserted: int = 0
    replaced: int = 0
    rejected: int = 0
    problems: list[FieldProblem] = field(default_factory=list)
    # Strict mode: the line that stopped the import.
    stopped_at: int | None = None
    sink: Rejects | None = field(default=None, repr=False)

    def reject(self, problems: Sequence[FieldProblem]) -> None:
        self.rejected += len({problem.index for problem in problems})
        room = MAX_REPORTED_PROBLEMS - len(self.problems)
        self.problems.extend(problems[: max(room, 0)])
        if self.sink is not None and problems:
            self.sink(problems)
