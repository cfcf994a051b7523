"""ExoReg's desktop registry browser (PySide6 + pyqtgraph) over the plain-Python ``core``.

- ``app``: the ``exoreg-gui`` / ``python -m exoreg_gui`` entry point.
- ``main_window``: the window (tree | Inspector / Compare / Charts), menus, settings.
- ``registry_source``: the open registry, listed in the background and polled for changes.
- ``models/``: Qt item models over ``core`` objects; ``widgets/``: thin views of them;
  ``dialogs/``: message boxes and the workflow dialogs
  (import / export, prediction, scoring, deployment); ``workflows``: connects them to the window.
- ``workers``: background work with progress and cancel; ``settings``: remembered state.
"""
