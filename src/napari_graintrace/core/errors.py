"""The one exception type for bad user input.

The CLI turns an :class:`InputError` into a one-line message and exit code 2; the widgets turn it
into a napari notification. Anything else that escapes is a bug and keeps its traceback.
"""


class InputError(ValueError):
    """Input the user can fix: a missing file, a shape mismatch, an out-of-range parameter."""
