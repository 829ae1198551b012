"""The computations behind the widgets and the CLI: numpy, scipy, scikit-image and torch only.

Nothing in this package imports Qt, napari or magicgui, so every function can be used from a
script, a notebook or a cluster worker.
"""

from .errors import InputError

__all__ = ["InputError"]
