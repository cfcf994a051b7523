"""Turning a KOI table into train / validation / test splits (the guide's ``DataProcessor``).

The default task is CONFIRMED vs FALSE POSITIVE on the dispositioned KOIs; CANDIDATE rows
are held out, since they are what a user wants to predict. ``task="three_class"`` keeps all
three dispositions as labels.

Splits are grouped by star: KOIs that share a host star (``kepid``) share its stellar columns
(``koi_steff``, ``koi_slogg``, ``koi_srad``, ``koi_kepmag``, ``ra``, ``dec``), so a random split
would put siblings on both sides and flatter the test figures. No group appears in two of
train / validation / test; the class balance stays within a few rows of a stratified split
(:func:`stratified_group_split`). Rows whose group value is missing are each their own group.
``group_column=None`` gives the old row-by-row stratified split, kept for comparison only.
When ``group_column`` is left at its default and the table has no ``kepid`` column (a synthetic
or trimmed table), rows are split one by one and ``SplitInfo.group_note`` says so; a group
column named explicitly must exist.

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
    import numpy as np
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
#: The column whose values keep rows together in one split: the host star's Kepler id.
GROUP_COLUMN = "kepid"
_DEFAULT_GROUP = object()  # "group_column not given": fall back (with a note) when the table lacks kepid


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
    #: The column rows were grouped by (``None``: split row by row), and how many groups the
    #: labelled rows form; ``group_note`` says why a default grouping was not possible.
    group_column: str | None = None
    groups: int | None = None
    group_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class DataProcessor:
    """Stratified train / validation / test splits of a KOI table, grouped by star, with a fixed seed.

    ``test_size`` and ``val_size`` are fractions of the labelled rows. ``group_column``
    (default ``"kepid"``) keeps every group's rows in one split; ``None`` splits row by row
    (the old split, for comparison only).
    """

    def __init__(
        self,
        task: str = "binary",
        feature_set: str = DEFAULT_FEATURE_SET,
        *,
        test_size: float = 0.2,
        val_size: float = 0.1,
        random_state: int = DEFAULT_RANDOM_STATE,
        group_column: str | None = _DEFAULT_GROUP,  # type: ignore[assignment]
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
        self._group_given = group_column is not _DEFAULT_GROUP
        self.group_column: str | None = GROUP_COLUMN if group_column is _DEFAULT_GROUP else group_column
        if self.group_column is not None and not (isinstance(self.group_column, str) and self.group_column):
            raise DataError("group_column must be a column name (or None to split row by row).")
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
        if self._group_given and self.group_column is not None and self.group_column not in frame.columns:
            raise DataError(f"The table has no {self.group_column} column to group the split by; name a column "
                            "it has, or pass group_column=None to split row by row.")
        return frame

    def groups_of(self, rows: pd.DataFrame) -> np.ndarray | None:
        """Integer group codes of ``rows`` (missing values each their own group), or ``None`` when ungrouped."""
        if self.group_column is None or self.group_column not in rows.columns:
            return None
        return group_codes(rows[self.group_column])

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
        groups = self.groups_of(rows)
        if groups is None:  # row by row: the old split, exactly
            X_rest, X_test, y_rest, y_test = train_test_split(
                X, y, test_size=self.test_size, stratify=y, random_state=self.random_state)
            val_fraction = self.val_size / (1.0 - self.test_size)
            X_train, X_val, y_train, y_val = train_test_split(
                X_rest, y_rest, test_size=val_fraction, stratify=y_rest, random_state=self.random_state)
        else:
            fractions = (1.0 - self.test_size - self.val_size, self.val_size, self.test_size)
            part = stratified_group_split(y, groups, fractions, random_state=self.random_state)
            X_train, X_val, X_test = (X[part == i] for i in range(3))
            y_train, y_val, y_test = (y[part == i] for i in range(3))
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
            group_column=self.group_column if groups is not None else None,
            groups=int(len(np.unique(groups))) if groups is not None else None,
            group_note=(f"The table has no {self.group_column} column, so rows were split one by one."
                        if groups is None and self.group_column is not None else None),
        )
        return (X_train, X_val, X_test, y_train, y_val, y_test, list(self.feature_names), encoder)



def group_codes(values: pd.Series) -> np.ndarray:
    """Integer codes of a group column: equal values share a code; each missing value gets its own."""
    import numpy as np
    import pandas as pd

    codes, _ = pd.factorize(values, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    missing = codes < 0
    codes[missing] = codes.max(initial=-1) + 1 + np.arange(int(missing.sum()))
    return codes


def stratified_group_split(y, groups, fractions, *, random_state: int = DEFAULT_RANDOM_STATE) -> np.ndarray:
    """Assign every row to one of ``len(fractions)`` parts so that no group spans two parts.

    Groups are shuffled with ``random_state`` and placed largest first, each into the part
    where it most reduces the squared gap between the part's class counts and its target
    (``fraction * class total``): the same idea as scikit-learn's ``StratifiedGroupKFold``, for
    unequal parts. Deterministic for a given seed. Returns an int array of part indices.
    """
    import numpy as np

    y = np.asarray(y, dtype=object)
    groups = np.asarray(groups)
    if len(y) != len(groups):
        raise DataError(f"There are {len(y)} labels but {len(groups)} group values; pass one group per row.")
    fractions = np.asarray(fractions, dtype=float)
    _, y_codes = np.unique(y, return_inverse=True)
    group_ids, g_codes = np.unique(groups, return_inverse=True)
    n_classes = int(y_codes.max(initial=-1)) + 1
    counts = np.zeros((len(group_ids), n_classes))
    np.add.at(counts, (g_codes, y_codes), 1)
    targets = fractions[:, None] * counts.sum(axis=0)[None, :]
    current = np.zeros_like(targets)
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(group_ids))
    order = order[np.argsort(-counts[order].sum(axis=1), kind="stable")]
    assignment = np.empty(len(group_ids), dtype=np.int64)
    for g in order:
        row = counts[g]
        # Increase of sum((current - target)^2) when the group joins each part; ties to the part most short of rows.
        cost = ((current + row - targets) ** 2 - (current - targets) ** 2).sum(axis=1)
        best = int(np.argmin(cost))
        assignment[g] = best
        current[best] += row
    return assignment[g_codes]
