"""skops imported without its scans for default-trusted types: models load as before, and whatever reports
what skops itself trusts answers as a plain ``import skops.io`` would. Each case runs in a fresh
interpreter, as skops is imported once per process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _factories import forest, register, training_data

ROOT = Path(__file__).resolve().parents[1]

# Every upper-case list of the module that computes them and of the modules whose nodes read them.
_TRUST_LISTS = """
import json, sys
from skops.io import _general, _numpy, _trusted_types
print(json.dumps({f"{m.__name__}.{k}": [x if isinstance(x, str) else repr(x) for x in v]
                  for m in (_trusted_types, _general, _numpy)
                  for k, v in sorted(vars(m).items()) if k.isupper() and isinstance(v, list)
                  and (m is _trusted_types or all(isinstance(x, str) for x in v))}))
"""


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def forest_file(tmp_path_factory):
    """A registered forest pipeline, as the registry stores it (a skops file)."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    from core.registry.registry import ModelRegistry

    X, y = training_data()
    model = make_pipeline(SimpleImputer(), forest()).fit(X, y)
    root = tmp_path_factory.mktemp("skops-import") / "registry"
    registry = ModelRegistry(str(root))
    model_id = register(registry, model)
    return root, model_id, registry.model_file_path(model_id)


def test_the_registry_loads_a_model_without_importing_all_of_scikit_learn(forest_file):
    root, model_id, _ = forest_file
    out = _python(
        "import json, sys\n"
        "from core.registry.registry import ModelRegistry\n"
        f"model, meta = ModelRegistry({str(root)!r}).load_model(model_id={model_id!r})\n"
        "from skops.io import _trusted_types as tt\n"
        "print(json.dumps([type(model[-1]).__name__, len(tt.SKLEARN_ESTIMATOR_TYPE_NAMES),"
        " len(tt.SCIPY_UFUNC_TYPE_NAMES), 'sklearn.utils._testing' in sys.modules, 'pytest' in sys.modules]))"
    )
    assert json.loads(out) == ["RandomForestClassifier", 0, 0, False, False]


def test_what_skops_trusts_by_default_is_what_a_plain_import_gives(forest_file):
    _, _, path = forest_file
    report = (
        "from core.registry.safety import skops_untrusted_types\n"
        f"print(json.dumps(skops_untrusted_types({str(path)!r})))\n"
    )
    plain = _python("import json, skops.io\n" + report)
    slim = _python("import json\nfrom core.registry.skopsio import skops_io\nskops_io()\n" + report)
    assert slim == plain
    assert _python(
        "from core.registry.skopsio import skops_io, complete_default_trust\n"
        "skops_io()\ncomplete_default_trust()\n" + _TRUST_LISTS
    ) == _python("import skops.io\n" + _TRUST_LISTS)


def test_a_type_outside_the_allowlist_is_still_refused(tmp_path):
    """The empty default list never widens trust: a file naming an estimator skops trusts by
    default but the registry does not is refused before anything is built."""
    out = _python(
        "import json\n"
        "from core.registry.skopsio import skops_io\n"
        "sio = skops_io()\n"
        "import numpy as np\n"
        "from sklearn.neighbors import KNeighborsClassifier\n"
        "data = sio.dumps(KNeighborsClassifier(n_neighbors=1).fit(np.eye(2), [0, 1]))\n"
        "from core.errors import UntrustedModelError\n"
        "from core.registry.safety import load_skops\n"
        "try:\n"
        "    load_skops(data, name='knn.skops')\n"
        "    print(json.dumps('loaded'))\n"
        "except UntrustedModelError as exc:\n"
        "    print(json.dumps(str(exc)))\n"
    )
    assert "KNeighborsClassifier" in json.loads(out)
    assert "import it with trust only if you know its source" in json.loads(out)
