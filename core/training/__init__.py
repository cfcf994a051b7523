"""Training: the KOI table, data processing, the three classifiers, the trainer, the evaluator and the demo."""
