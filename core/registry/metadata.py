"""The metadata recorded with every registered model, and the rules it must satisfy.

:class:`ModelMetadata` is the guide's dataclass, extended with what a browser and a
deployment need. It round-trips through JSON; keys it does not know are kept in
``extra`` and written back, so files from newer versions lose nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import regex

from core.common import jsonio
from core.common.koi_columns import leaky_features
from core.errors import MetadataValidationError

SCHEMA_VERSION = 1
HEADLINE_METRICS = ("accuracy", "precision", "recall", "f1_score")
REQUIRED_FIELDS = ("model_id", "model_name", "algorithm", "version", "training_date", *HEADLINE_METRICS)
STATUSES = ("active", "deleted")
#: Why a version's headline metrics may not be compared with the others' (``metrics_caveat``):
#: scored on a file whose overlap with the model's training rows nobody knows. Such a version is
#: never "best" until a person confirms its metrics (:meth:`ModelRegistry.confirm_metrics`).
OVERLAP_UNKNOWN = "overlap unknown"
METRICS_CAVEATS = ("", OVERLAP_UNKNOWN)

MAX_NAME_LENGTH = 128
RESERVED_NAMES = frozenset({".", "..", "best"})
_FORBIDDEN_NAME_CHARS = re.compile(r"[/\\:@\x00-\x1f\x7f]")
_ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Text that is not Unicode (a lone surrogate: an undecodable byte smuggled in by
# surrogateescape) cannot be written as UTF-8 and breaks every reader; NUL is never text.
_NOT_TEXT = re.compile("[\ud800-\udfff\x00]")
# One-line labels (names, keys, identifiers) hold no control characters either.
_NOT_LABEL = re.compile("[\ud800-\udfff\x00-\x1f\x7f]")

# Sizes past which a value is absurd rather than informative (a guard against crafted files).
MAX_TEXT = 20_000
MAX_SHORT_TEXT = 1_000
MAX_ITEMS = 10_000
MAX_JSON_BYTES = 5_000_000
MAX_INT = 2**63 - 1  # the index's JSON library stores 64-bit integers, no larger
MAX_METADATA_BYTES = 2 * MAX_JSON_BYTES  # a whole metadata file, as read and as written


@dataclass
class ModelMetadata:
    model_id: str
    model_name: str
    algorithm: str
    version: int
    training_date: str
    accuracy: float | None  # None: not known (an imported model nobody scored)
    precision: float | None
    recall: float | None
    f1_score: float | None
    training_dataset: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    feature_columns: list[str] = field(default_factory=list)
    training_samples: int | None = None
    test_samples: int | None = None
    class_distribution: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    status: str = "active"
    classes: list[Any] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    training_info: dict[str, Any] = field(default_factory=dict)
    model_file: str = ""
    model_format: str = "skops"
    model_sha256: str = ""
    model_size: int = 0
    file_signature: str = ""
    python_version: str = ""
    sklearn_version: str = ""
    schema_version: int = SCHEMA_VERSION
    imported_from: dict[str, Any] = field(default_factory=dict)  # provenance of an imported version
    metrics_caveat: str = ""  # one of METRICS_CAVEATS
    extra: dict[str, Any] = field(default_factory=dict)

    # -- conversion ---------------------------------------------------------------------
    def _fields(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return data

    def to_dict(self) -> dict[str, Any]:
        """A plain deep copy (numpy values as Python ones; a NaN becomes ``None``)."""
        return jsonio.loads(jsonio.dumps(self._fields(), allow_nan=True))

    def to_json(self) -> str:
        """The metadata file's text (2-space indentation); NaN and oversized metadata are refused."""
        try:
            data = jsonio.dumps(self._fields(), indent=True)
        except jsonio.JSONLimitError as exc:
            raise MetadataValidationError(f"Metadata {exc}; keep nested values shallower.") from exc
        if len(data) > MAX_METADATA_BYTES:
            raise MetadataValidationError(
                f"Metadata is {len(data):,} bytes as JSON, over the {MAX_METADATA_BYTES:,}-byte limit; "
                "record less in its hyperparameters, evaluation or training info."
            )
        return data.decode("utf-8") + "\n"

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        *,
        validate: bool = True,
        label: str = "Metadata",
    ) -> ModelMetadata:
        """Metadata from a JSON object; every missing or invalid field is reported in one error
        (``label`` names the object in it, e.g. the file's name)."""
        if not isinstance(data, dict):
            raise MetadataValidationError(f"{label} must be a JSON object; the file holds something else.")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        meta = cls(**{name: None for name in missing}, **kwargs, extra=extra)
        if validate or missing:
            problems = [
                MetadataValidationError(
                    f"Metadata is missing the required field '{name}'; add it and try again.", field=name
                )
                for name in missing
            ]
            if validate:
                problems += [p for p in meta.problems() if p.field not in missing]
            raise_problems(problems, label)
        return meta

    @classmethod
    def from_json(cls, text: str | bytes, *, validate: bool = True) -> ModelMetadata:
        try:
            data = jsonio.loads(text, max_bytes=MAX_METADATA_BYTES)
        except jsonio.JSONLimitError as exc:
            raise MetadataValidationError(f"Metadata {exc}; use a file the registry exported.") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise MetadataValidationError(
                f"Metadata is not valid JSON ({exc}); use a file the registry exported."
            ) from exc
        if isinstance(text, str):
            text = text.encode("utf-8", "surrogatepass")
        if b"\\ud" in text.lower():  # an escaped surrogate: cheap to test, rare to see
            data = _replace_lone_surrogates(data)
        return cls.from_dict(data, validate=validate)

    # -- convenience --------------------------------------------------------------------
    @property
    def is_deleted(self) -> bool:
        return self.status == "deleted"

    @property
    def leaky_features(self) -> list[str]:
        """The feature columns that are NASA's vetting outputs (``core.koi.LEAKY_COLUMNS``): its metrics flatter it."""
        return leaky_features(self.feature_columns)

    def metric(self, name: str) -> float | None:
        """A headline metric or one of ``metrics``; ``None`` when not recorded."""
        if name in HEADLINE_METRICS:
            return getattr(self, name)
        value = self.metrics.get(name)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    def all_metrics(self) -> dict[str, float]:
        out = {name: getattr(self, name) for name in HEADLINE_METRICS if getattr(self, name) is not None}
        out.update({k: v for k, v in self.metrics.items() if _is_number(v)})
        return out

    def summary(self) -> dict[str, Any]:
        """The row the index keeps for this version (what ``list_models`` returns, plus extras)."""
        return {
            "model_id": self.model_id,
            "model_name": self.model_name,
            "version": self.version,
            "algorithm": self.algorithm,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1_score": self.f1_score,
            "training_date": self.training_date,
            "training_dataset": self.training_dataset,
            "status": self.status,
            "aliases": list(self.aliases),
            "tags": dict(self.tags),
            "description": self.description,
            "metrics": {k: v for k, v in self.metrics.items() if _is_number(v)},
            "n_features": len(self.feature_columns),
            "model_file": self.model_file,
            "model_format": self.model_format,
            "model_size": self.model_size,
            # Only when set, so that index rows written before the field existed stay current.
            **({"metrics_caveat": self.metrics_caveat} if self.metrics_caveat else {}),
        }

    # -- validation ---------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`MetadataValidationError` naming the first field that is wrong."""
        problems = self.problems(first_only=True)
        if problems:
            raise problems[0]

    def problems(self, *, first_only: bool = False) -> list[MetadataValidationError]:
        """Every field that is wrong, one error each (in field order); empty when the metadata is valid."""
        found: list[MetadataValidationError] = []
        failed: set[str | None] = set()
        for field_name, check in self._checks():
            if field_name in failed:
                continue  # one problem per field is enough to act on
            try:
                check()
            except MetadataValidationError as exc:
                found.append(exc)
                failed.add(field_name)
                if first_only:
                    break
        return found

    def _checks(self) -> list[tuple[str, Any]]:
        """``(field, check)`` pairs; each check raises :class:`MetadataValidationError` for its field."""
        checks: list[tuple[str, Any]] = []

        def add(name: str, check) -> None:
            checks.append((name, check))

        for name in ("model_id", "algorithm", "training_date"):
            add(name, lambda n=name: _check_str(n, getattr(self, n), MAX_SHORT_TEXT, required=True))
        add("model_name", lambda: validate_model_name(self.model_name))
        add("version", self._check_version)
        for name in HEADLINE_METRICS:
            add(name, lambda n=name: _check_unit_interval(n, getattr(self, n), optional=True))
        add("algorithm", lambda: _check_label("algorithm", self.algorithm))
        add("training_dataset", lambda: _check_str("training_dataset", self.training_dataset, MAX_SHORT_TEXT))
        add("training_dataset", lambda: _check_label("training_dataset", self.training_dataset))
        add("description", lambda: _check_str("description", self.description, MAX_TEXT))
        add("description", lambda: _check_text("description", self.description))
        add("model_file", lambda: _check_str("model_file", self.model_file, MAX_SHORT_TEXT))
        add("model_file", self._check_model_file)
        add("model_sha256", lambda: _check_str("model_sha256", self.model_sha256, 64))
        add("model_sha256", self._check_sha256)
        add("model_format", lambda: _check_str("model_format", self.model_format, 32))
        for name in ("python_version", "sklearn_version", "file_signature"):
            add(name, lambda n=name: _check_str(n, getattr(self, n), 256))
        for name in ("training_samples", "test_samples"):
            add(name, lambda n=name: _check_count(n, getattr(self, n), optional=True))
        add("model_size", lambda: _check_count("model_size", self.model_size))
        add("status", lambda: self.status in STATUSES or _fail("status", f"must be one of {', '.join(STATUSES)}"))
        add("schema_version", self._check_schema_version)
        add("metrics_caveat", self._check_caveat)
        add("feature_columns", self._check_features)
        add("aliases", lambda: _check_list(
            "aliases", self.aliases, item=lambda v: isinstance(v, str) and bool(_ALIAS_RE.fullmatch(v))))
        add("classes", lambda: _check_list(
            "classes", self.classes, item=lambda v: isinstance(v, str | int) and not isinstance(v, bool)))
        add("tags", self._check_tags)
        add("metrics", self._check_metrics)
        for name in ("hyperparameters", "class_distribution", "evaluation", "training_info", "imported_from", "extra"):
            add(name, lambda n=name: _check_json_object(n, getattr(self, n)))
        for name in ("model_id", "model_file", "model_format", "python_version", "sklearn_version"):
            add(name, lambda n=name: _check_label(n, getattr(self, n)))
        add("training_date", lambda: _check_text("training_date", self.training_date))
        add("file_signature", lambda: _check_text("file_signature", self.file_signature))
        add("classes", lambda: _check_nested_text("classes", self.classes))
        return checks

    def _check_version(self) -> None:
        if not isinstance(self.version, int) or isinstance(self.version, bool) or not 1 <= self.version <= MAX_INT:
            _fail("version", "must be a whole number of at least 1")

    def _check_model_file(self) -> None:
        if self.model_file and (Path_sep_re.search(self.model_file) or self.model_file in (".", "..")):
            _fail("model_file", "must be a plain file name without folders")

    def _check_sha256(self) -> None:
        if self.model_sha256 and not re.fullmatch(r"[0-9a-f]{64}", self.model_sha256):
            _fail("model_sha256", "must be 64 lowercase hexadecimal characters")

    def _check_schema_version(self) -> None:
        if not isinstance(self.schema_version, int) or isinstance(self.schema_version, bool):
            _fail("schema_version", "must be a whole number")

    def _check_caveat(self) -> None:
        if self.metrics_caveat not in METRICS_CAVEATS:
            _fail("metrics_caveat", f"must be empty or {OVERLAP_UNKNOWN!r}")

    def _check_features(self) -> None:
        _check_list(
            "feature_columns",
            self.feature_columns,
            item=lambda v: isinstance(v, str) and 0 < len(v) <= 256,
        )
        for column in self.feature_columns:
            _check_label("feature_columns", column)

    def _check_tags(self) -> None:
        if not isinstance(self.tags, dict) or len(self.tags) > 1000:
            _fail("tags", "must be an object of at most 1,000 text keys and values")
        for key, value in self.tags.items():
            if (
                not isinstance(key, str)
                or not isinstance(value, str)
                or not key
                or len(key) > 128
                or len(value) > MAX_SHORT_TEXT
            ):
                _fail("tags", "must map short text keys to text values")
            _check_label("tags", key)
            _check_text("tags", value)

    def _check_metrics(self) -> None:
        if not isinstance(self.metrics, dict) or len(self.metrics) > MAX_ITEMS:
            _fail("metrics", "must be an object of numbers")
        for key, value in self.metrics.items():
            if (
                not isinstance(key, str)
                or len(key) > 256
                or not _is_number(value)
                or not math.isfinite(value)
                or abs(value) > MAX_INT
            ):
                _fail("metrics", f"entry {str(key)[:60]!r} must be a finite number")
            _check_label("metrics", key)


# `model_file` must be a bare file name: no separators of any platform.
Path_sep_re = re.compile(r"[/\\]")


def validate_model_name(name: Any) -> str:
    """Check a model name against the rules that keep ``NAME:VERSION`` / ``NAME@ALIAS`` unambiguous."""
    if not isinstance(name, str) or not name.strip():
        _fail("model_name", "must be a non-empty text")
    if len(name) > MAX_NAME_LENGTH:
        _fail("model_name", f"must be at most {MAX_NAME_LENGTH} characters")
    if name != name.strip():
        _fail("model_name", "must not begin or end with spaces")
    problem = _text_problem(name, _NOT_TEXT)
    if problem:
        _fail("model_name", problem)
    bad = _FORBIDDEN_NAME_CHARS.search(name)
    if bad:
        _fail(
            "model_name",
            f"must not contain {describe_char(bad.group())} (at position {bad.start()}): no '/', '\\', ':', "
            "'@' or control characters",
        )
    if name in RESERVED_NAMES:
        _fail("model_name", f"must not be {name!r}, which is reserved")
    return name


# ---------------------------------------------------------------------------- look-alike names
# A name a new version is registered under is NFC-normalised and made of the letters (and
# combining marks and digits) of one script, plus ASCII digits and these: two names that read
# the same must be the same name. The scripts allowed are Unicode's recommended ones (UTS #39);
# Han is written together with Hiragana and Katakana (Japanese), Hangul (Korean) or Bopomofo.
NAME_PUNCTUATION = "_-. "
NAME_SCRIPTS = (
    "Latin", "Greek", "Cyrillic", "Armenian", "Georgian", "Hebrew", "Arabic", "Syriac", "Thaana",
    "Devanagari", "Bengali", "Gurmukhi", "Gujarati", "Oriya", "Tamil", "Telugu", "Kannada", "Malayalam",
    "Sinhala", "Thai", "Lao", "Tibetan", "Myanmar", "Khmer", "Ethiopic", "Mongolian", "Tifinagh",
    "Hangul", "Hiragana", "Katakana", "Bopomofo", "Han",
)  # fmt: skip
_WRITTEN_WITH = {"Han": ("Japanese", "Korean", "Chinese"), "Hiragana": ("Japanese",),
                 "Katakana": ("Japanese",), "Hangul": ("Korean",), "Bopomofo": ("Chinese",)}  # fmt: skip
_SCRIPT_RE = {name: regex.compile(rf"\p{{Script_Extensions={name}}}") for name in NAME_SCRIPTS}
_ANY_SCRIPT_RE = regex.compile(r"[\p{Script=Common}\p{Script=Inherited}]")
_CONTROL_NAMES = {0x00: "NULL", 0x09: "CHARACTER TABULATION", 0x0A: "LINE FEED", 0x0D: "CARRIAGE RETURN",
                  0x1B: "ESCAPE", 0x7F: "DELETE", 0x85: "NEXT LINE (NEL)"}  # fmt: skip


def describe_char(char: str) -> str:
    """``U+200B ZERO WIDTH SPACE``: a character as a person can look it up (and see it when it is invisible)."""
    code = ord(char)
    name = unicodedata.name(char, None) or _CONTROL_NAMES.get(code) or "(a control character)"
    return f"U+{code:04X} {name}"


@functools.lru_cache(maxsize=4096)
def _scripts_of(char: str) -> tuple[str, ...] | None:
    """The allowed scripts ``char`` is written in (none: a script not allowed); None for a script-neutral mark."""
    found = tuple(name for name in NAME_SCRIPTS if _SCRIPT_RE[name].match(char))
    if not found and _ANY_SCRIPT_RE.match(char):
        return None
    return found


def _writing_systems(scripts: tuple[str, ...]) -> set[str]:
    return {w for s in scripts for w in (s, *_WRITTEN_WITH.get(s, ()))}


def name_lookalike_problem(name: str) -> tuple[str, str] | None:
    """Why ``name`` could be mistaken for another name, and what to do about it; None when it cannot.

    The reason completes "The model name X ..." and the advice follows a semicolon.

    Refused: text not in NFC; control, format (invisible, reordering) and separator
    characters; spaces other than the plain one; compatibility forms (fullwidth letters,
    mathematical letters, ligatures); letters outside the allowed scripts; letters of two
    scripts in one name; any other symbol or punctuation than ``_-. ``.
    """
    if unicodedata.normalize("NFC", name) != name:
        nfc = unicodedata.normalize("NFC", name)
        return f"is not in Unicode normal form NFC (in NFC it is {nfc!r})", f"register new versions as {nfc!r}"
    systems: set[str] | None = None
    first: tuple[str, int] | None = None
    for pos, char in enumerate(name):
        if char.isascii() and (char.isdigit() or char in NAME_PUNCTUATION):
            continue
        where = f"{describe_char(char)} (at position {pos})"
        category = unicodedata.category(char)
        if category[0] not in "LMN" or category in ("Nl", "No"):
            what = {
                "Cc": "a control character",
                "Cf": "an invisible formatting character (it can hide or reorder text)",
                "Zl": "a line separator",
                "Zp": "a paragraph separator",
                "Zs": "a space other than the plain space",
                "Co": "a private-use character",
                "Cn": "an unassigned code point",
            }.get(category, f"neither a letter, a digit nor one of {NAME_PUNCTUATION.strip()!r} and space")
            return f"contains {where}, {what}", "remove it or choose another name"
        plain = unicodedata.normalize("NFKC", char)
        if plain != char:
            return f"contains {where}, a look-alike of {plain!r}", f"write {plain!r} instead"
        scripts = _scripts_of(char)
        if scripts is None:
            if category[0] == "M":
                continue  # a combining mark belongs to the letter before it
            return f"contains {where}, which belongs to no single script", "remove it or choose another name"
        if not scripts:
            return f"contains {where}, a letter of a script model names do not use", "choose another name"
        joined = _writing_systems(scripts) if systems is None else systems & _writing_systems(scripts)
        if not joined:
            assert first is not None
            return (
                f"mixes scripts: {where} is {'/'.join(scripts)}, but {describe_char(name[first[1]])} "
                f"(at position {first[1]}) is {first[0]}",
                "use the letters of one script, so that no two names look alike",
            )
        if first is None:
            first = ("/".join(scripts), pos)
        systems = joined
    return None


def check_new_model_name(name: Any) -> str:
    """The name a new version is registered under: checked, NFC-normalised and free of look-alikes.

    Names already in a registry only need :func:`validate_model_name` to keep opening;
    ``verify`` warns about those this function would refuse.
    """
    validate_model_name(name)
    name = unicodedata.normalize("NFC", name)
    validate_model_name(name)
    problem = name_lookalike_problem(name)
    if problem:
        reason, advice = problem
        raise MetadataValidationError(f"The model name {name!r} {reason}; {advice}.", field="model_name")
    return name


def validate_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not _ALIAS_RE.fullmatch(alias):
        raise MetadataValidationError(
            f"Alias {alias!r} is not valid; use letters, digits, '-', '_' or '.', starting with a letter or digit.",
            field="aliases",
        )
    return alias


def raise_problems(problems: list[MetadataValidationError], label: str = "Metadata") -> None:
    """Raise nothing, the one problem, or one error that lists every problem (named by the first field)."""
    if not problems:
        return
    if len(problems) == 1:
        raise problems[0]
    missing = [p.field for p in problems if str(p).startswith("Metadata is missing")]
    parts = []
    if missing:
        parts.append("it is missing " + ", ".join(f"'{f}'" for f in missing))
    for p in problems:
        if p.field not in missing:
            text = str(p).removeprefix("Metadata field ").rstrip(".")
            parts.append(text[0].lower() + text[1:] if text else text)
    raise MetadataValidationError(
        f"{label} has {len(problems)} problems: {'; '.join(parts)}; fix them all and try again.",
        field=problems[0].field,
    )


def _fail(field_name: str, problem: str):
    raise MetadataValidationError(f"Metadata field '{field_name}' {problem}.", field=field_name)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_str(name: str, value: Any, limit: int, *, required: bool = False) -> None:
    if not isinstance(value, str):
        _fail(name, "must be text")
    if required and not value:
        _fail(name, "must not be empty")
    if len(value) > limit:
        _fail(name, f"must be at most {limit:,} characters")


def _text_problem(value: str, pattern: re.Pattern) -> str | None:
    bad = pattern.search(value)
    if bad is None:
        return None
    char = bad.group()
    if "\udc80" <= char <= "\udcff":  # what surrogateescape makes of a byte that is not UTF-8
        what = f"the undecodable byte 0x{ord(char) - 0xDC00:02x}"
    elif "\ud800" <= char <= "\udfff":
        what = f"the lone surrogate U+{ord(char):04X}"
    else:
        what = None
    if what:
        return f"is not valid Unicode text ({what} at position {bad.start()}); give it as UTF-8 text"
    return f"must not contain the control character {char!r} (at position {bad.start()}); remove it"


def _check_text(name: str, value: str) -> None:
    """Free text: valid Unicode without NUL (newlines and tabs are fine)."""
    problem = _text_problem(value, _NOT_TEXT)
    if problem:
        _fail(name, problem)


def _check_label(name: str, value: str) -> None:
    """One-line text (a name, key or identifier): valid Unicode without control characters."""
    problem = _text_problem(value, _NOT_LABEL)
    if problem:
        _fail(name, problem)


def _check_nested_text(name: str, value: Any) -> None:
    """Every key and string inside a JSON value is valid Unicode without NUL."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _check_text(name, item)
        elif isinstance(item, dict):
            for key, sub in item.items():
                if isinstance(key, str):
                    _check_text(name, key)
                stack.append(sub)
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _check_unit_interval(name: str, value: Any, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not _is_number(value) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        _fail(name, f"must be a finite number between 0 and 1 (got {value!r})")


def _check_list(name: str, value: Any, *, item) -> None:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        _fail(name, f"must be a list of at most {MAX_ITEMS:,} items")
    for v in value:
        if not item(v):
            _fail(name, f"has an invalid item {str(v)[:60]!r}")


def _check_count(name: str, value: Any, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_INT:
        _fail(name, "must be a non-negative whole number" + (" or null" if optional else ""))


def _check_json_object(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        _fail(name, "must be a JSON object")
    _check_json_size(name, value)
    _check_nested_text(name, value)


def _check_json_size(name: str, value: Any) -> None:
    try:
        size = len(jsonio.dumps(value))
    except jsonio.JSONLimitError as exc:
        _fail(name, str(exc))
    except (TypeError, ValueError) as exc:
        _fail(name, f"must hold only JSON values ({exc})")
    if size > MAX_JSON_BYTES:
        _fail(name, f"is too large ({size:,} bytes; the limit is {MAX_JSON_BYTES:,})")


def _replace_lone_surrogates(value: Any) -> Any:
    """Lone surrogates (written by releases that accepted undecodable text) read as U+FFFD.

    New text with them is refused; an old file keeps its version visible rather than
    becoming unreadable.
    """
    if isinstance(value, str):
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value) if _has_surrogate(value) else value
    if isinstance(value, list):
        return [_replace_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_lone_surrogates(k): _replace_lone_surrogates(v) for k, v in value.items()}
    return value


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)
