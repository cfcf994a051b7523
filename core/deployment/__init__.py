"""Deployment bundles: an MLflow model, skops and ONNX files, ``predict.py``, a model card and a manifest."""

from core.deployment.bundle import export_bundle, export_registered_model, verify_bundle

__all__ = ["export_bundle", "export_registered_model", "verify_bundle"]
