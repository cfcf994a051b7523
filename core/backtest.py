"""Backtests across vintages of the KOI table: would the ranking have found the planets confirmed since?

:func:`backtest` trains a classifier on an OLD table's CONFIRMED / FALSE POSITIVE rows (the
:class:`~core.training.processing.DataProcessor` binary task and its split), ranks OLD's
CANDIDATEs by P(CONFIRMED) (:func:`core.ranking.rank_candidates`) and scores that ranking
against the same KOIs' dispositions in a NEW table, joined on ``kepoi_name``:

- counts: OLD's CANDIDATEs, how many NEW calls CONFIRMED (since confirmed), FALSE POSITIVE
  (since rejected) or still CANDIDATE, and how many are missing from NEW (no such
  ``kepoi_name``, or no known disposition there);
- precision at 50 / 100 / 200: the share of the top-ranked CANDIDATEs that NEW calls CONFIRMED
  (a KOI missing from NEW counts as not confirmed);
- ROC AUC of the score for since-confirmed against every other OLD CANDIDATE, and for confirmed
  against rejected when both occur (otherwise a sentence says why it is undefined);
- the same figures for OLD's own ``koi_score`` as the baseline, side by side.

Ties: the ranking for precision sorts by the score, highest first, and breaks ties by
``kepoi_name`` (then file order), for the model and for ``koi_score`` alike (many CANDIDATEs
share ``koi_score`` = 1); a CANDIDATE without a ``koi_score`` ranks after every one with a
score. The AUCs give tied scores their average rank (a tie counts as half a correct pair).

Every figure has a 95 % interval from ``n_resamples`` bootstrap resamples of OLD's CANDIDATEs
(percentiles 2.5 and 97.5; resamples in which a figure is undefined are left out), computed
for all resamples at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from core.errors import DataError
from core.ranking import FRAME_SOURCE, P_COLUMN, SCORE_COLUMN, order_by_score, rank_candidates
from core.training.koi import (
    CANDIDATE,
    CONFIRMED,
    DEFAULT_FEATURE_SET,
    FALSE_POSITIVE,
    FEATURE_SET_DESCRIPTIONS,
    LABEL_COLUMN,
    KoiTable,
    clean_koi_frame,
    load_koi,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

PRECISION_AT = (50, 100, 200)
DEFAULT_RESAMPLES = 2000
NEW_COLUMN = "new_disposition"
TIE_BREAK = ("Ties: for precision the CANDIDATEs are sorted by score, highest first, ties broken by kepoi_name "
             "(koi_score has many ties at 1.0; a CANDIDATE without koi_score comes last); the AUCs give tied "
             "scores their average rank.")
_NAME = "kepoi_name"
_BATCH = 250  # bootstrap resamples computed together (bounds memory: _BATCH x candidates floats)


def _metric_names() -> list[str]:
    return [f"precision_at_{k}" for k in PRECISION_AT] + ["auc_confirmed_vs_other", "auc_confirmed_vs_rejected"]


METRICS = tuple(_metric_names())
METRIC_LABELS = {
    **{f"precision_at_{k}": f"precision at {k}" for k in PRECISION_AT},
    "auc_confirmed_vs_other": "ROC AUC, confirmed vs all other",
    "auc_confirmed_vs_rejected": "ROC AUC, confirmed vs rejected",
}


@dataclass
class Figure:
    """One figure with its bootstrap interval; ``undefined`` says why when there is no value."""

    value: float | None
    low: float | None = None
    high: float | None = None
    undefined: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "low": self.low, "high": self.high}
        if self.undefined:
            out["undefined"] = self.undefined
        return out

    def text(self) -> str:
        if self.value is None:
            return "undefined"
        if self.low is None:
            return f"{self.value:.4f}"
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"


@dataclass
class BacktestResult:
    """What :func:`backtest` measured; :meth:`to_dict` is plain JSON, :meth:`lines` the printed report."""

    old: str
    new: str
    algorithm: str
    feature_set: str
    random_state: int
    n_resamples: int
    counts: dict[str, int]
    model: dict[str, Figure]
    koi_score: dict[str, Figure]
    tie_break: str = TIE_BREAK
    notes: list[str] = field(default_factory=list)
    test_metrics: dict[str, float] = field(default_factory=dict)  # on OLD's held-out test rows
    split: dict[str, Any] = field(default_factory=dict)
    model_id: str | None = None  # the registered version, when asked for
    frame: Any = None  # OLD's ranked CANDIDATEs with their NEW disposition (pandas DataFrame)

    def to_dict(self) -> dict[str, Any]:
        from core.common.jsonio import to_jsonable

        return to_jsonable({
            "old": self.old,
            "new": self.new,
            "algorithm": self.algorithm,
            "feature_set": self.feature_set,
            "random_state": self.random_state,
            "n_resamples": self.n_resamples,
            "counts": dict(self.counts),
            "model": {k: v.to_dict() for k, v in self.model.items()},
            "koi_score": {k: v.to_dict() for k, v in self.koi_score.items()},
            "tie_break": self.tie_break,
            "notes": list(self.notes),
            "test_metrics": dict(self.test_metrics),
            "split": dict(self.split),
            "model_id": self.model_id,
        })

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write OLD's ranked CANDIDATEs with their NEW disposition (as :meth:`RankedCandidates.to_csv` writes)."""
        from core.ranking import RankedCandidates

        return RankedCandidates(frame=self.frame, source=self.old).to_csv(path)

    def metrics(self) -> dict[str, float]:
        """The defined figures as flat ``backtest_<figure>`` / ``backtest_koi_score_<figure>`` numbers."""
        out = {}
        for prefix, figures in (("backtest_", self.model), ("backtest_koi_score_", self.koi_score)):
            for name, figure in figures.items():
                if figure.value is not None:
                    out[prefix + name] = figure.value
        return out

    def lines(self) -> list[str]:
        c = self.counts
        out = [
            f"Backtest: {self.algorithm} on the {self.feature_set} features, trained on OLD {Path(self.old).name}, "
            f"scored against NEW {Path(self.new).name}",
            f"OLD's CANDIDATEs: {c['candidates']:,}; since confirmed {c['since_confirmed']:,}, since rejected "
            f"{c['since_rejected']:,}, still CANDIDATE {c['still_candidate']:,}, missing from NEW "
            f"{c['missing_from_new']:,}",
        ]
        if self.split:
            grouped = (f"split grouped by {self.split['group_column']}, {self.split.get('groups') or 0:,} groups"
                       if self.split.get("group_column") else "split row by row")
            out.append(f"Trained on {self.split.get('training_samples', 0):,} of OLD's labelled rows ({grouped}); "
                       f"macro F1 {self.test_metrics.get('f1_score', 0.0):.4f} on its "
                       f"{self.split.get('test_samples', 0):,} held-out test rows.")
        out.append("")
        rows = [(METRIC_LABELS[m], self.model[m].text(), self.koi_score[m].text()) for m in METRICS]
        widths = [max(len(r[i]) for r in [("", "model P(CONFIRMED)", "koi_score (OLD)"), *rows]) for i in range(3)]
        for row in [("", "model P(CONFIRMED)", "koi_score (OLD)"), *rows]:
            out.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        out.append("")
        if self.n_resamples:
            out.append(f"[low, high]: 95 % bootstrap interval over {self.n_resamples:,} resamples of OLD's "
                       f"CANDIDATEs (seed {self.random_state}).")
        out.append(self.tie_break)
        undefined = []
        for figures in (self.model, self.koi_score):
            for figure in figures.values():
                if figure.undefined and figure.undefined not in undefined:
                    undefined.append(figure.undefined)
        out += [f"note: {text}" for text in undefined + self.notes]
        if self.model_id:
            out.append(f"Registered {self.model_id} with the backtest in its metadata.")
        return out


def backtest(
    old,
    new,
    *,
    algorithm: str = "random_forest",
    feature_set: str = DEFAULT_FEATURE_SET,
    random_state: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    register: str | None = None,
    registry=None,
    hyperparameters: dict[str, Any] | None = None,
    status: Callable[[str], None] | None = None,
) -> BacktestResult:
    """Train on OLD's labelled rows, rank OLD's CANDIDATEs and score the ranking against NEW.

    ``old`` and ``new``: KOI table paths (the archive's cumulative export) or DataFrames.
    ``algorithm``: ``random_forest`` / ``RandomForest``, ``neural_network``, ``svm``;
    ``hyperparameters`` override its defaults. ``register`` names a model under which the
    trained version is registered in ``registry`` (a ``ModelRegistry`` or its folder), with the
    backtest in its evaluation and the defined figures as ``backtest_*`` metrics.
    ``status(text)`` receives one line per step. Raises :class:`DataError` (one sentence) for a
    table that cannot be used.
    """
    import numpy as np

    from core.training.processing import DataProcessor
    from core.training.trainer import ModelTrainer, training_records

    say = status or (lambda text: None)
    name = _algorithm(algorithm)
    if n_resamples < 0:
        raise DataError(f"n_resamples must be 0 or more (got {n_resamples}).")
    old_table = _table(old, "OLD", feature_set=feature_set)
    new_table = _table(new, "NEW")
    old_frame, new_frame = old_table.data, new_table.data
    notes: list[str] = []

    processor = DataProcessor("binary", feature_set, random_state=random_state)
    say(f"Training {name} on OLD's CONFIRMED / FALSE POSITIVE rows...")
    X_train, X_val, X_test, y_train, y_val, y_test, features, _ = processor.process_dataset(old_frame)
    trainer = ModelTrainer([name], random_state=random_state, hyperparameters={name: dict(hyperparameters or {})},
                           importance_repeats=2, importance_max_samples=0.5)
    clf, evaluation = trainer.train_one(name, X_train, y_train, X_val, y_val, X_test, y_test)
    split = processor.split_info.to_dict() if processor.split_info else {}
    if split.get("group_note"):
        notes.append(split["group_note"])

    say(f"Ranking OLD's {CANDIDATE}s...")
    meta = SimpleNamespace(model_id=f"the {name} trained on OLD", feature_columns=list(features),
                           classes=[str(c) for c in clf.pipeline.classes_])
    ranked = rank_candidates((clf.pipeline, meta), old_frame, explain=0)
    notes += [n for n in ranked.notes if not n.startswith(SCORE_COLUMN)]
    frame = ranked.frame
    if _NAME not in frame:
        raise DataError(f"OLD has no {_NAME} column, so its CANDIDATEs cannot be found in NEW; use the archive's "
                        "cumulative KOI table.")
    n_old_candidates = int((old_frame[LABEL_COLUMN] == CANDIDATE).sum())
    if len(frame) < n_old_candidates:
        notes.append(f"{n_old_candidates - len(frame)} of OLD's {n_old_candidates} CANDIDATEs could not be scored "
                     "and are left out of every figure.")

    later = _new_dispositions(new_frame, notes)
    frame[NEW_COLUMN] = frame[_NAME].map(later)
    confirmed = (frame[NEW_COLUMN] == CONFIRMED).to_numpy()
    rejected = (frame[NEW_COLUMN] == FALSE_POSITIVE).to_numpy()
    counts = {
        "candidates": int(len(frame)),
        "since_confirmed": int(confirmed.sum()),
        "since_rejected": int(rejected.sum()),
        "still_candidate": int((frame[NEW_COLUMN] == CANDIDATE).sum()),
        "missing_from_new": int(frame[NEW_COLUMN].isna().sum()),
    }
    if counts["missing_from_new"]:
        notes.append(f"{counts['missing_from_new']} of OLD's CANDIDATEs are missing from NEW (or have no known "
                     "disposition there); they count as not confirmed.")

    names = frame[_NAME].to_numpy(dtype=object)
    rng = np.random.default_rng(random_state)
    samples = rng.integers(0, len(frame), size=(n_resamples, len(frame))) if n_resamples and len(frame) else None
    model_figures = score_ranking(frame[P_COLUMN].to_numpy(dtype=float), names, confirmed, rejected, samples,
                                  what="P(CONFIRMED)")
    if SCORE_COLUMN in frame:
        score = frame[SCORE_COLUMN].to_numpy(dtype=float)
        unscored = int(np.isnan(score).sum())
        if unscored:
            notes.append(f"{unscored} of OLD's CANDIDATEs have no koi_score; for the baseline they rank below every "
                         "scored one.")
        baseline = score_ranking(score, names, confirmed, rejected, samples, what="koi_score")
    else:
        why = "OLD has no koi_score column, so there is no NASA baseline to compare with."
        baseline = {m: Figure(None, undefined=why) for m in METRICS}

    result = BacktestResult(
        old=_label(old), new=_label(new), algorithm=name, feature_set=feature_set, random_state=random_state,
        n_resamples=n_resamples if samples is not None else 0, counts=counts, model=model_figures,
        koi_score=baseline, notes=notes,
        test_metrics={k: float(evaluation[k]) for k in ("accuracy", "precision", "recall", "f1_score")},
        split=split, frame=frame,
    )
    if register:
        records = training_records(processor.split_frames)
        result.model_id = _register(result, register, registry, clf, evaluation, features, old_table, new_table,
                                    records)
    return result


# ---------------------------------------------------------------------------------------------
# The figures


def score_ranking(score, names, confirmed, rejected, samples=None, *, what: str = "the score") -> dict[str, Figure]:
    """Precision at 50 / 100 / 200 and the two ROC AUCs of ``score`` over the candidates, with intervals.

    ``score``: one value per candidate (NaN ranks last); ``names``: their ``kepoi_name`` (the
    tie-break); ``confirmed`` / ``rejected``: boolean arrays of their dispositions in NEW;
    ``samples``: a (resamples, candidates) array of bootstrap indices, or None for no intervals.
    """
    import numpy as np

    score = np.asarray(score, dtype=float)
    n = len(score)
    finite = np.isfinite(score)
    low = (np.min(score[finite]) - 1.0) if finite.any() else 0.0
    filled = np.where(finite, score, low)  # no score: below every scored candidate
    order = order_by_score(filled, names)
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    confirmed_by_position = np.asarray(confirmed, dtype=bool)[order]
    figures: dict[str, Figure] = {}
    for k in PRECISION_AT:
        if n < k:
            figures[f"precision_at_{k}"] = Figure(None, undefined=f"OLD has only {n} CANDIDATEs, fewer than {k}, so "
                                                                  f"precision at {k} is undefined.")
            continue
        value = float(confirmed_by_position[:k].mean())
        interval = _interval(samples, lambda idx, k=k: _precision(position, confirmed_by_position, idx, k))
        figures[f"precision_at_{k}"] = Figure(value, *interval)
    everyone = np.ones(n, dtype=bool)
    pairs = (
        ("auc_confirmed_vs_other", confirmed, everyone,
         f"none of OLD's candidates were confirmed in NEW, so the {what} AUC of confirmed vs all other is undefined."),
        ("auc_confirmed_vs_rejected", confirmed, np.asarray(confirmed) | np.asarray(rejected), None),
    )
    for metric, positive, included, why in pairs:
        positive = np.asarray(positive, dtype=bool)
        included = np.asarray(included, dtype=bool)
        n_pos, n_neg = int((positive & included).sum()), int((~positive & included).sum())
        if n_pos == 0 or n_neg == 0:
            if metric == "auc_confirmed_vs_rejected":
                why = ("none of OLD's candidates were rejected in NEW, so confirmed-vs-rejected AUC is undefined."
                       if n_neg == 0 else
                       "none of OLD's candidates were confirmed in NEW, so confirmed-vs-rejected AUC is undefined.")
            elif n_neg == 0:
                why = "all of OLD's candidates were confirmed in NEW, so the AUC of confirmed vs all other is undefined."
            figures[metric] = Figure(None, undefined=why)
            continue
        value = float(_auc(filled[None, :], positive[None, :], included[None, :])[0])
        interval = _interval(samples, lambda idx, p=positive, i=included: _auc(filled[idx], p[idx], i[idx]))
        figures[metric] = Figure(value, *interval)
    return figures


def _precision(position, confirmed_by_position, idx, k: int):
    """Precision at ``k`` of each resample (rows of ``idx``): its k best-placed picks, duplicates included."""
    import numpy as np

    top = np.sort(position[idx], axis=1)[:, :k]
    return confirmed_by_position[top].mean(axis=1)


def _auc(score, positive, included):
    """ROC AUC of each row: positives against the other included items, tied scores at their average rank.

    Excluded items are set above every score, so the ranks of the included ones are their ranks among
    themselves (Mann-Whitney U / (n_pos * n_neg)). NaN where a row has no positive or no negative.
    """
    import numpy as np
    from scipy.stats import rankdata

    s = np.where(included, score, np.inf)
    ranks = rankdata(s, method="average", axis=1)
    pos = positive & included
    n_pos = pos.sum(axis=1)
    n_neg = (included & ~positive).sum(axis=1)
    u = np.where(pos, ranks, 0.0).sum(axis=1) - n_pos * (n_pos + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def _interval(samples, figure) -> tuple[float | None, float | None]:
    """The 2.5 and 97.5 percentiles of ``figure(indices)`` over the resamples (in batches), ignoring undefined ones."""
    import numpy as np

    if samples is None:
        return None, None
    values = np.concatenate([figure(samples[i:i + _BATCH]) for i in range(0, len(samples), _BATCH)])
    values = values[np.isfinite(values)]
    if not values.size:
        return None, None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


# ---------------------------------------------------------------------------------------------
# Inputs and registration


def _algorithm(text: str) -> str:
    from core.training.trainer import ALGORITHMS

    key = text.replace("_", "").replace("-", "").replace(" ", "").lower()
    for name in ALGORITHMS:
        if name.lower() == key:
            return name
    raise DataError(f"Unknown algorithm {text!r}; choose one of random_forest, neural_network, svm.")


def _label(table) -> str:
    return str(table) if isinstance(table, str | os.PathLike) else FRAME_SOURCE


def _table(table, which: str, *, feature_set: str | None = None) -> KoiTable:
    import pandas as pd

    if isinstance(table, KoiTable):
        return table
    if isinstance(table, pd.DataFrame):
        frame = table.copy()
        if LABEL_COLUMN not in frame or _NAME not in frame:
            raise DataError(f"The {which} table lacks {LABEL_COLUMN} or {_NAME}; use the archive's cumulative KOI "
                            "table.")
        clean_koi_frame(frame, name=f"the {which} table")
        return KoiTable(data=frame)
    try:
        return load_koi(table, feature_set=feature_set, required=[_NAME])
    except DataError as exc:
        raise DataError(f"{which}: {exc}") from exc


def _new_dispositions(new_frame: pd.DataFrame, notes: list[str]) -> dict[str, str]:
    """kepoi_name -> disposition in NEW (the first row of a name that occurs twice)."""
    known = new_frame[new_frame[LABEL_COLUMN].isin((CANDIDATE, CONFIRMED, FALSE_POSITIVE))]
    dupes = int(known[_NAME].duplicated().sum())
    if dupes:
        notes.append(f"NEW has {dupes} repeated kepoi_name value(s); the first row of each is used.")
    known = known.drop_duplicates(_NAME)
    return dict(zip(known[_NAME].astype(str), known[LABEL_COLUMN], strict=True))


def _register(result: BacktestResult, name: str, registry, clf, evaluation, features, old_table, new_table,
              records: dict[str, Any]) -> str:
    """Register the trained version; ``records`` are its training rows and training frame (see ``training_records``)."""
    from core.prediction.stream import open_registry
    from core.training.processing import TASK_DESCRIPTIONS

    reg = open_registry(registry)
    info = {
        "dataset": old_table.file_name or "OLD (a DataFrame)",
        **{k: v for k, v in result.split.items() if k in ("training_samples", "validation_samples", "test_samples",
                                                          "class_distribution", "task", "random_state", "test_size",
                                                          "val_size", "held_out", "feature_set",
                                                          "group_column", "groups")},
        "task_description": TASK_DESCRIPTIONS["binary"],
        "feature_set_description": FEATURE_SET_DESCRIPTIONS.get(result.feature_set, ""),
        **(old_table.provenance() if old_table.path else {}),
        "backtest_new_file": new_table.file_name,
        "backtest_new_sha256": new_table.sha256,
        "built_by": "exoreg backtest",
    }
    backtest = {k: v for k, v in result.to_dict().items() if k != "model_id"}
    return reg.register_model(
        model=clf.pipeline,
        model_name=name,
        algorithm=result.algorithm,
        evaluation_results={**evaluation, **result.metrics(), "backtest": backtest},
        hyperparameters=clf.get_hyperparameters(),
        training_info=info,
        feature_columns=list(features),
        description=(f"Backtest: trained on {info['dataset']}, its CANDIDATE ranking scored against "
                     f"{new_table.file_name or 'NEW'}."),
        tags={"feature_set": result.feature_set, "task": "binary", "backtest": "yes"},
        **records,
    )
