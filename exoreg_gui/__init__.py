"""ExoReg's desktop registry browser (PySide6 + pyqtgraph) over the plain-Python ``core``.

- ``app``: the ``exoreg-gui`` / ``python -m exoreg_gui`` entry point.
- ``main_window``: the window (tree | Inspector / Compare / Charts), menus, settings.
- ``registry_source``: the open registry, listed in the background and polled for changes.
- ``models/``: Qt item models over ``core`` objects; ``widgets/``: thin views of them;
  ``dialogs/``: message boxes and the workflow dialogs
  (import / export, prediction, scoring, deployment); ``workflows``: connects them to the window.
- ``workers``: background work with progress and cancel; ``settings``: remembered state.
- ``resources``: icons and the stylesheet (the repository's top-level ``resources/`` folder).
"""


def _load_checkout_resources() -> None:
    """In a source checkout, load the top-level ``resources/`` folder as ``exoreg_gui.resources``.

    A wheel installs that folder inside this package (``pyproject.toml``'s package-dir
    mapping), where the normal import finds it; a checkout keeps it at the top level.
    """
    import sys
    from importlib.util import module_from_spec, spec_from_file_location
    from pathlib import Path

    name = f"{__name__}.resources"
    here = Path(__file__).resolve().parent
    init = here.parent / "resources" / "__init__.py"
    if name in sys.modules or (here / "resources" / "__init__.py").is_file() or not init.is_file():
        return
    spec = spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
    module = module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_load_checkout_resources()
