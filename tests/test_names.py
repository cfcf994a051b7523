"""Look-alike model names: names are NFC, one script, no invisible or control characters.

``RandomForest`` and ``RandomForest`` + U+200B would list identically; so would a name with a
Cyrillic ``а`` in place of a Latin ``a``. New versions are refused such names with the
character named; names an older release registered keep opening and ``verify`` warns about them.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import ModelRegistry
from core.cli import main
from core.errors import MetadataValidationError
from core.registry import metadata as metadata_module
from core.registry import registry as registry_module
from core.registry.metadata import NAME_PUNCTUATION, check_new_model_name
from tests._factories import forest, register


@pytest.mark.parametrize(
    ("name", "named"),
    [
        ("RandomForest\u200b", "U+200B ZERO WIDTH SPACE (at position 12), an invisible formatting character"),
        ("Random\u202eForest", "U+202E RIGHT-TO-LEFT OVERRIDE (at position 6)"),
        ("Random\u2028Forest", "U+2028 LINE SEPARATOR (at position 6), a line separator"),
        ("Random\x85Forest", "U+0085 NEXT LINE (NEL) (at position 6), a control character"),
        ("Random\u2060Forest", "U+2060 WORD JOINER"),
        ("\ufeffRandomForest", "U+FEFF ZERO WIDTH NO-BREAK SPACE (at position 0)"),
        ("Random\u00a0Forest", "U+00A0 NO-BREAK SPACE (at position 6), a space other than the plain space"),
        ("R\u0430ndomForest", "mixes scripts: U+0430 CYRILLIC SMALL LETTER A (at position 1) is Cyrillic, "
         "but U+0052 LATIN CAPITAL LETTER R (at position 0) is Latin"),
        ("Rand\u03bfmForest", "U+03BF GREEK SMALL LETTER OMICRON (at position 4) is Greek"),
        ("\uff32andomForest", "U+FF32 FULLWIDTH LATIN CAPITAL LETTER R (at position 0), a look-alike of 'R'"),
        ("\U0001d411andom", "U+1D411 MATHEMATICAL BOLD CAPITAL R (at position 0), a look-alike of 'R'"),
        ("Random\tForest", "U+0009 CHARACTER TABULATION (at position 6)"),
        ("Random+Forest", "U+002B PLUS SIGN (at position 6), neither a letter, a digit nor one of"),
    ],
)
def test_a_lookalike_name_is_refused_naming_the_character(registry_root, name, named):
    registry = ModelRegistry(registry_root)
    with pytest.raises(MetadataValidationError) as info:
        register(registry, name=name)
    assert named in str(info.value)
    assert info.value.field == "model_name" and str(info.value).endswith(".")
    assert registry.list_models(include_deleted=True) == []
    assert list(registry.models_dir.iterdir()) == []


def test_names_are_registered_in_nfc_and_found_either_way(registry_root):
    registry = ModelRegistry(registry_root)
    decomposed, composed = "Mode\u0300le", "Mod\u00e8le"
    first = register(registry, name=decomposed)
    second = register(registry, name=composed)
    assert registry.model_names() == [composed]
    assert [registry.get_metadata(i).version for i in (first, second)] == [1, 2]
    assert registry.resolve(f"{decomposed}:1").model_id == first
    assert registry.resolve(composed).model_id == second


def test_one_script_per_name_but_every_script_and_the_japanese_mix(registry_root):
    registry = ModelRegistry(registry_root)
    for name in ("Модель-1", "Ελληνικά_2", "分类器 モデル", "한국어 모델", "exo_rf-v2.1 final", "Café"):
        register(registry, name=name)
    assert len(registry.model_names()) == 6


def _register_as_an_older_release(registry, name):
    """What a release before look-alike names were refused wrote: the name as given."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(registry_module, "check_new_model_name", lambda n: metadata_module.validate_model_name(n))
        return register(registry, name=name)


def test_names_already_registered_keep_opening_and_verify_warns(registry_root, capsys):
    registry = ModelRegistry(registry_root)
    plain = register(registry, name="RandomForest")
    twin = _register_as_an_older_release(registry, "RandomForest\u200b")
    cyrillic = _register_as_an_older_release(registry, "R\u0430ndomForest")
    registry = ModelRegistry(registry_root)
    assert sorted(r["model_id"] for r in registry.list_models()) == sorted([plain, twin, cyrillic])
    model, meta = registry.load_model(twin)
    assert meta.model_name == "RandomForest\u200b" and hasattr(model, "predict")
    assert registry.resolve("R\u0430ndomForest").model_id == cyrillic
    registry.delete_model(twin)  # changes to such a version still work
    registry.restore_model(twin)

    report = registry.verify()
    assert report.ok and report.problems == []
    assert [w.kind for w in report.warnings] == ["lookalike_name", "lookalike_name"]
    messages = " ".join(w.message for w in report.warnings)
    assert "U+200B ZERO WIDTH SPACE" in messages and "U+0430 CYRILLIC SMALL LETTER A" in messages
    assert "still open" in messages

    code = main(["--registry", str(registry_root), "verify"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "OK" in out.splitlines()[0]
    assert out.count("warning  lookalike_name") == 2 and "U+200B ZERO WIDTH SPACE" in out
    # A new version under the look-alike name is refused like a new name.
    with pytest.raises(MetadataValidationError, match="U\\+200B ZERO WIDTH SPACE"):
        register(registry, name="RandomForest\u200b")


def test_importing_an_archive_with_a_lookalike_name_is_one_sentence(registry_root, tmp_path, capsys):
    source = ModelRegistry(tmp_path / "old")
    old_id = _register_as_an_older_release(source, "Random\u202eForest")
    archive = source.export_model(old_id, tmp_path / "out")["archive"]
    target = ModelRegistry(registry_root)
    code = main(["--registry", str(registry_root), "import", str(archive)])
    _, err = capsys.readouterr()
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in err and "Traceback" not in err
    assert target.list_models(include_deleted=True) == []
    assert target.verify().ok


_confusables = st.sampled_from(
    ["a", "Z", "7", "_", "-", ".", " ", "é", "e\u0301", "\u0430", "\u03bf", "\u200b", "\u202e", "\u2028", "\x85",
     "\u00a0", "\uff21", "\U0001d400", "中", "モ", "한", "\u0300", "+", "(", "ー", "\ufeff", "\u2060", "ß"]
)  # fmt: skip
_names = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=16),
    st.lists(_confusables, min_size=1, max_size=10).map("".join),
)


@settings(derandomize=True, max_examples=500, deadline=None)
@given(name=_names)
def test_every_name_is_accepted_plain_or_refused_naming_a_character_it_holds(name):
    try:
        accepted = check_new_model_name(name)
    except MetadataValidationError as exc:
        message = str(exc)
        assert exc.field == "model_name" and message.endswith(".")
        if "U+" in message:  # the character named is one the name holds
            code = int(message.split("U+", 1)[1].split(" ", 1)[0], 16)
            assert chr(code) in unicodedata.normalize("NFC", name)
        return
    assert accepted == unicodedata.normalize("NFC", name)
    assert check_new_model_name(accepted) == accepted  # idempotent
    assert unicodedata.normalize("NFKC", accepted) == accepted
    for char in accepted:
        category = unicodedata.category(char)
        assert category[0] in "LMN" or char in NAME_PUNCTUATION, (char, category)
        assert category not in ("Cf", "Cc", "Zl", "Zp")


def test_the_registry_refuses_what_the_check_refuses(registry_root):
    registry = ModelRegistry(registry_root)
    with pytest.raises(MetadataValidationError, match="U\\+200B"):
        registry.register_model(
            forest(), "A\u200b", "RandomForest", {"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1_score": 0.9}
        )
    assert registry.list_models(include_deleted=True) == []
