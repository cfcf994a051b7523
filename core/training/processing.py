"""Turning a KOI table into train / validation / test splits (the guide's ``DataProcessor``).

The default task is CONFIRMED vs FALSE POSITIVE on the dispositioned KOIs; CANDIDATE rows
are held out, since they are what a user wants to predict. ``task="three_class"`` keeps all
three dispositions as labels.

Features stay raw KOI columns (missing values included) in pandas DataFrames with their
column names: the models impute and scale inside their own pipelines, so a fitted model
predicts straight from rows of the archive's CSV. Labels are the disposition strings
themselves (``"CONFIRMED"``...); the returned ``encoder`` (a fitted ``LabelEncoder``) maps
them to integers for code that wants numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import DataError
from core.training.koi import (
    CANDIDATE,
    CONFIRMED,
    DEFAULT_FEATURE_SET,
    FALSE_POSITIVE,
    LABEL_COLUMN,
    KoiTable,
    clean_koi_frame,
    feature_columns,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

TASKS: dict[str, tuple[str, ...]] = {
    "binary": (CONFIRMED, FALSE_POSITIVE),
    "three_class": (CANDIDATE, CONFIRMED, FALSE_POSITIVE),
}
TASK_DESCRIPTIONS = {
    "binary": "CONFIRMED vs FALSE POSITIVE (CANDIDATE rows held out)",
    "three_class": "CANDIDATE vs CONFIRMED vs FALSE POSITIVE",
}
DEFAULT_RANDOM_STATE = 42


@dataclass
class SplitInfo:
    """What :meth:`DataProcessor.process_dataset` did, for a model's ``training_info``."""

    task: str
    feature_set: str
    random_state: int
    test_size: float
    val_size: float
    training_samples: int
    validation_samples: int
    test_samples: int
    class_distribution: dict[str, int]
    held_out: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class DataProcessor:
    """Stratified train / validation / test splits of a KOI table with a fixed seed.

    ``test_size`` and ``val_size`` are fractions of the labelled rows.
    """

    def __init__(
        self,
        task: str = "binary",
        feature_set: str = DEFAULT_FEATURE_SET,
        *,
        test_size: float = 0.2,
        val_size: float = 0.1,
        random_state: int = DEFAULT_RANDOM_STATE,
    ):
        if task not in TASKS:
            raise DataError(f"Unknown task {task!r}; choose one of {', '.join(TASKS)}.")
        if not (0 < test_size < 1 and 0 < val_size < 1 and test_size + val_size < 0.9):
            raise DataError("test_size and val_size must be fractions whose sum is below 0.9.")
        self.task = task
        self.feature_set = feature_set
        self.feature_names = feature_columns(feature_set)
        self.test_size = test_size
        self.val_size = val_size
        self.random_state = random_state
        self.split_info: SplitInfo | None = None
        #: After :meth:`process_dataset`: the original rows (every column) of each split, keyed
        #: ``"train"`` / ``"validation"`` / ``"test"``, in the same order as X_train / X_val / X_test.
        self.split_frames: dict[str, pd.DataFrame] = {}

    @property
    def classes(self) -> list[str]:
        return list(TASKS[self.task])

    def _frame(self, df: pd.DataFrame | KoiTable) -> pd.DataFrame:
        if isinstance(df, KoiTable):
            frame = df.data
        else:
            if LABEL_COLUMN not in df.columns:
                raise DataError(f"The table has no {LABEL_COLUMN} column; use the archive's cumulative KOI table.")
            frame = df.copy()
            clean_koi_frame(frame)
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise DataError(f"The table lacks the column(s) {', '.join(missing[:8])} of the "
                            f"{self.feature_set!r} feature set; use the archive's cumulative KOI table.")
        return frame

    def labelled_rows(self, df: pd.DataFrame | KoiTable) -> pd.DataFrame:
        """The rows this task learns from."""
        frame = self._frame(df)
        return frame[frame[LABEL_COLUMN].isin(self.classes)]

    def candidate_rows(self, df: pd.DataFrame | KoiTable) -> pd.DataFrame:
        """The CANDIDATE rows (unlabelled as far as the binary task is concerned)."""
        frame = self._frame(df)
        return frame[frame[LABEL_COLUMN] == CANDIDATE]

    def process_dataset(self, df: pd.DataFrame | KoiTable):
        """Return ``(X_train, X_val, X_test, y_train, y_val, y_test, feature_names, encoder)``.

        X are DataFrames of the feature columns (raw values, NaN where missing); y are numpy
        arrays of the disposition strings; ``encoder`` is a ``LabelEncoder`` fitted on the task's classes.
        """
        import numpy as np
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import LabelEncoder

        frame = self._frame(df)
        rows = frame[frame[LABEL_COLUMN].isin(self.classes)]
        counts = rows[LABEL_COLUMN].value_counts()
        too_few = [c for c in self.classes if counts.get(c, 0) < 10]
        if too_few:
            raise DataError(f"The table has fewer than 10 rows labelled {', '.join(too_few)}; the "
                            f"{self.task!r} task needs every class.")
        rows = rows.reset_index(drop=True)
        X = rows[self.feature_names].astype(float)
        y = rows[LABEL_COLUMN].to_numpy(dtype=object)
        X_rest, X_test, y_rest, y_test = train_test_split(
            X, y, test_size=self.test_size, stratify=y, random_state=self.random_state)
        val_fraction = self.val_size / (1.0 - self.test_size)
        X_train, X_val, y_train, y_val = train_test_split(
            X_rest, y_rest, test_size=val_fraction, stratify=y_rest, random_state=self.random_state)
        self.split_frames = {name: rows.loc[part.index] for name, part in
                             (("train", X_train), ("validation", X_val), ("test", X_test))}
        encoder = LabelEncoder().fit(np.array(self.classes, dtype=object))
        held_out = frame[~frame[LABEL_COLUMN].isin(self.classes)][LABEL_COLUMN].value_counts(dropna=False)
        train_counts = {str(k): int(v) for k, v in zip(*np.unique(y_train, return_counts=True), strict=True)}
        self.split_info = SplitInfo(
            task=self.task,
            feature_set=self.feature_set,
            random_state=self.random_state,
            test_size=self.test_size,
            val_size=self.val_size,
            training_samples=len(X_train),
            validation_samples=len(X_val),
            test_samples=len(X_test),
            class_distribution=train_counts,
            held_out={str(k): int(v) for k, v in held_out.items()},
        )
        return (X_train, X_val, X_test, y_train, y_val, y_test, list(self.feature_names), encoder)
