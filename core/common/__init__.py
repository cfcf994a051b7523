"""Foundations every layer of ``core`` stands on: crash-safe files, JSON, user folders."""
