"""Where a registry's bytes live: the :class:`~core.registry.store.base.RegistryStore` seam and its stores."""
