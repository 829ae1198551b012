"""napari-graintrace: train, run and judge U-Nets that trace grain boundaries.

Importing the package is cheap and Qt-free: the napari widgets live in ``_widgets`` and are
loaded by napari from the manifest only when a user opens them.
"""

__version__ = "0.1.0"
