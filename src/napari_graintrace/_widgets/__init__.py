"""napari dock widgets: one file per widget, thin layout and wiring over ``core``.

napari imports these modules from the manifest only when a user opens a widget.
"""
