"""ipywidgets for the course notebooks, one module per widget.

Notebooks import from here; no widget is defined in a notebook cell. Every widget
also leaves a static picture and a one-line text summary, so a reader without a
live kernel (GitHub, nbviewer, a PDF) still sees the story.
"""
