"""The one exception type for bad input.

Every check of user input (files, spec strings, shapes, labels, run folders) raises
`UserInputError` with a message that names the input and says how to fix it. The command
line prints that message alone (no traceback) and exits with status 2.
"""


class UserInputError(ValueError):
    """Bad input from the user: the message names the input and the fix."""
