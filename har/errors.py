"""Mistakes a user can fix (a missing dataset, a wrong value, a missing checkpoint): one line, no traceback.

A :class:`UserError` says what is wrong, what was expected (a folder layout, a value type, with the README section
that describes it) and what to try. ``train.py``, ``evaluate.py`` and ``predict.py`` (through
:func:`har.run.cli.run_main`) and the tools print it as one line on stderr and exit with status 2; the traceback is
printed only with ``HYDRA_FULL_ERROR=1``. It imports nothing, so every layer of har may raise it.
"""

from __future__ import annotations

EXIT_USER_ERROR = 2  # the exit status of a run stopped by a UserError (1: a failure of har itself, or Hydra's)
README = "README.md"


class UserError(Exception):
    """A mistake in the command line, the config or the data, that the user fixes.

    Args:
        what: what is wrong, naming the file, value or setting (``data.root=/x: no folder there``).
        expected: what was expected there (a folder layout, a type), optionally with a README section.
        hint: what to try (``experiment=synthetic_pose`` runs without any data).
        section: the README section that describes it (``"COCO"`` → "see README.md, section COCO").
    """

    def __init__(self, what: str, expected: str | None = None, hint: str | None = None,
                 section: str | None = None) -> None:  # fmt: skip
        self.what, self.expected, self.hint, self.section = what, expected, hint, section
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message as one line: ``what; expected: ... (README.md, section X); try: ...``."""
        parts = [self.what.rstrip(". ")]
        if self.expected:
            where = f" ({README}, section \u201c{self.section}\u201d)" if self.section else ""
            parts.append(f"expected {self.expected.rstrip('. ')}{where}")
        elif self.section:
            parts.append(f"see {README}, section \u201c{self.section}\u201d")
        if self.hint:
            parts.append(f"try {self.hint.rstrip('. ')}")
        return "; ".join(p.replace("\n", " ") for p in parts)


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named (a checkpoint, an input, a dataset root) is not there. Also a
    FileNotFoundError, so code that handles those keeps working."""


class BadInputError(UserError, ValueError):
    """A file the user gave is not what was expected (a pickle named ``.json``, a foreign checkpoint). Also a
    ValueError, so code that handles those keeps working."""
