"""The one base class of the errors a user can cause: a missing or damaged file (video, model,
mapping table, log, dataset), a camera that cannot be opened, an option out of range.

Every command (run_webcam.py, python -m realtime.batch, python -m realtime.outputs.report, the
train/ and mappings/ scripts) catches UserError alone, prints its one-line message and exits 2.
Anything else is a bug and escapes with its traceback. It lives at the top of the repository so
that realtime/, models/, mappings/ and train/ all derive from it without importing each other.
"""

import sys


class UserError(Exception):
    """Bad input from the user; the message is one line that says what and where."""


class OptionError(UserError, ValueError):
    """An option's value out of range; also a ValueError, as Python's own argument checks raise."""


def exit_status(command, *args) -> int:
    """Run a command's body: 0 when it returns, 2 with the error's one line on stderr on a UserError."""
    try:
        command(*args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
