"""The DICEPTION browser demo: settings, model serving, per-user point state, callbacks and tab builders.

``app.py`` composes these into a ``gr.Blocks``; everything here is importable without loading a model.
"""
