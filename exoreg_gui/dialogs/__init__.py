"""Dialogs. Each one only gathers choices or shows a result; the work runs elsewhere."""
