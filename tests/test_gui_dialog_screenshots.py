"""Screenshots of every workflow dialog in its main states, for a person to look at.

The images go to a temporary folder; to refresh the README's images run

    EXOREG_SCREENSHOT_DIR=docs/screenshots EXOREG_KOI_CSV=<KOI table> \\
        QT_QPA_PLATFORM=offscreen pytest tests/test_gui_dialog_screenshots.py
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from tests._gui_support import open_registry  # noqa: E402
from tests._workflow_support import KOI_FEATURES, read_koi  # noqa: E402

RUN_TIMEOUT = 120_000


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo this pickle runs a shell command",))


def _save(shots: dict, out: Path) -> None:
    for name, pixmap in shots.items():
        image: QImage = pixmap.toImage()
        assert image.width() > 300 and image.height() > 150, name
        colours = {image.pixel(x, y) for y in range(0, image.height(), 9) for x in range(0, image.width(), 9)}
        assert len(colours) > 8, f"{name} looks blank"
        assert pixmap.save(str(out / f"dialog-{name}.png"), "PNG"), name


def _sample_file(koi_csv, path: Path, repeats: int = 7) -> Path:
    """The KOI rows repeated (~67,000 rows) with a few cells no model can use, so rows are rejected."""
    import pandas as pd

    frame = read_koi(koi_csv)[["kepid", "kepoi_name", "koi_disposition", *KOI_FEATURES]]
    big = pd.concat([frame] * repeats, ignore_index=True)
    big["koi_depth"] = big["koi_depth"].astype(object)
    for row, text in ((3, "n/a"), (17, "deep"), (40, "inf"), (41, "?"), (128, "1.2.3")):
        big.loc[row, "koi_depth"] = text
    big.to_csv(path, index=False)
    return path


def test_dialog_screenshots(qtbot, window, messages, prompts, koi_registry_copy, koi_csv, tmp_path):
    from exoreg_gui.dialogs.common import trust_box
    from exoreg_gui.workflows import install_workflows

    out = Path(os.environ.get("EXOREG_SCREENSHOT_DIR") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    flows = install_workflows(window)
    window.resize(1440, 900)
    open_registry(qtbot, window, koi_registry_copy.root)
    window.tree_panel.view.expandAll()
    ids = koi_registry_copy.ids
    registry = window.registry
    shots = {}

    # -- prediction: checked and ready, blocked, running, results
    sample = _sample_file(koi_csv, tmp_path / "koi_candidates.csv")
    broken = tmp_path / "koi_missing_columns.csv"
    read_koi(koi_csv).head(500).drop(columns=["koi_depth", "koi_teq"]).to_csv(broken, index=False)
    window.select_versions([ids[1]])
    qtbot.waitUntil(lambda: window.selected_ids() == [ids[1]])
    dialog = flows.open_predict([str(sample)])
    qtbot.waitUntil(lambda: all(j.state != "checking" for j in dialog.jobs.values()), timeout=20000)
    shots["predict-ready"] = dialog.grab()
    dialog.add_files([str(broken)])
    qtbot.waitUntil(lambda: all(j.state != "checking" for j in dialog.jobs.values()), timeout=20000)
    assert not dialog.run_button.isEnabled()
    shots["predict-blocked"] = dialog.grab()
    dialog.file_list.setCurrentRow(1)
    dialog._on_remove_clicked()
    dialog.file_list.setCurrentRow(0)
    running = []
    original = dialog.progress.set_progress

    def grab_running(done, total):
        original(done, total)
        if 0 < done < total and not running:
            running.append(dialog.grab())

    dialog.progress.set_progress = grab_running
    with qtbot.waitSignal(dialog.results_shown, timeout=RUN_TIMEOUT):
        dialog.run()
    if running:
        shots["predict-running"] = running[0]
    shots["predict-results"] = dialog.grab()
    dialog.result_tabs.setCurrentIndex(1)
    shots["predict-classes"] = dialog.grab()
    dialog.result_tabs.setCurrentIndex(2)
    assert dialog.rejects_table.table_model.rowCount() >= 3
    shots["predict-rejects"] = dialog.grab()
    dialog.close()

    # -- scoring on a labelled file, and the fresh scores in the comparison and the charts
    labelled = tmp_path / "koi_labelled.csv"
    read_koi(koi_csv).to_csv(labelled, index=False)
    window.select_versions(ids)
    qtbot.waitUntil(lambda: window.selected_ids() == ids)
    window.tabs.setCurrentIndex(1)
    dialog = flows.open_score(str(labelled))
    qtbot.waitUntil(lambda: dialog.label_combo.count() > 0, timeout=10000)
    shots["score-choose"] = dialog.grab()
    with qtbot.waitSignal(flows.scores_shown, timeout=RUN_TIMEOUT):
        dialog.run()
    dialog.resize(1000, 560)  # the verdicts, with room for their table
    shots["score-results"] = dialog.grab()
    dialog.close()
    shots["score-compare"] = window.grab()
    window.tabs.setCurrentIndex(2)
    shots["score-charts"] = window.grab()
    window.tabs.setCurrentIndex(1)

    # -- export, then import (safe archive; untrusted pickle with the trust question)
    window.select_versions([ids[0]])
    qtbot.waitUntil(lambda: window.selected_ids() == [ids[0]])
    window.select_versions(ids)
    qtbot.waitUntil(lambda: window.selected_ids() == ids)
    dialog = flows.open_export()
    dialog.folder_edit.setText(str(tmp_path / "exports"))
    shots["export-choose"] = dialog.grab()
    with qtbot.waitSignal(dialog.exported, timeout=20000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    shots["export-done"] = dialog.grab()
    dialog.close()

    archive = sorted((tmp_path / "exports").glob("*.exoreg"))[0]
    meta = json.loads(registry.get_metadata(ids[0]).to_json())
    evil = pickle.dumps(_RunsCode())
    (tmp_path / "shared_model.pkl").write_bytes(evil)
    (tmp_path / "shared_model.json").write_text(json.dumps({**meta, "model_sha256": hashlib.sha256(evil).hexdigest()}))
    dialog = flows.open_import([str(archive), str(tmp_path / "shared_model.pkl")])
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=10000)
    dialog.file_list.setCurrentRow(0)
    shots["import-safe"] = dialog.grab()
    dialog.file_list.setCurrentRow(1)
    shots["import-untrusted"] = dialog.grab()
    box = trust_box(dialog, dialog.items[str((tmp_path / "shared_model.pkl").resolve())].preview)
    box.show()
    shots["import-trust-question"] = box.grab()
    box.close()
    prompts.trust_answers.append(False)
    messages.answers.append(True)  # the archive is the same model file as its source: import it anyway
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    dialog.file_list.setCurrentRow(0)
    shots["import-done"] = dialog.grab()
    dialog.close()

    # -- deployment: choices, the written bundle (verified), the model card
    dialog = flows.open_deploy(ids[1])
    dialog.folder_edit.setText(str(tmp_path / "bundles" / "KoiForest-v2"))
    dialog.sample_edit.setText(str(labelled))
    shots["deploy-choose"] = dialog.grab()
    with qtbot.waitSignal(dialog.bundle_written, timeout=RUN_TIMEOUT):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(dialog.verified, timeout=20000):
        qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)
    shots["deploy-bundle"] = dialog.grab()
    dialog.result_tabs.setCurrentIndex(1)
    shots["deploy-card"] = dialog.grab()
    dialog.close()

    _save(shots, out)
    assert not messages.errors, messages.errors
