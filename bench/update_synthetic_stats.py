"""Regenerate core/training/data/synthetic_stats.json (the synthetic fallback's class-wise summary) from a real KOI table.

Usage: PYTHONPATH=. python bench/update_synthetic_stats.py [KOI_CSV]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from core.training.koi import load_koi
from core.training.synthetic import SUMMARY_FILE, classwise_summary

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    source = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("EXOREG_KOI_CSV")
    if not source:
        print("usage: update_synthetic_stats.py KOI_CSV (or set EXOREG_KOI_CSV)", file=sys.stderr)
        return 2
    table = load_koi(source, feature_set="vetting")
    summary = classwise_summary(table.data)
    summary["source"] = {"file": table.file_name, "sha256": table.sha256, "archive_stamp": table.archive_stamp}
    text = json.dumps(summary, indent=1) + "\n"
    target = ROOT / "core" / "training" / SUMMARY_FILE
    target.write_text(text)
    print(f"wrote {target} ({len(text):,} characters) from {table.file_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
