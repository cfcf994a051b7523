"""Qt item models over ``core`` objects (thin adapters; no registry logic lives here)."""
