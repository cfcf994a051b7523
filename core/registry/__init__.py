"""The registry: versioned model files and their metadata, loaded safely, behind a storage seam.

``registry`` (:class:`ModelRegistry`) is what callers use; ``store`` is where the bytes live;
``metadata``, ``safety``, ``archives``, ``transfer`` and ``persistence`` are its parts.
"""
