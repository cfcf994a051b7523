"""The static pickle scan: what it reports is what a person trusts, so it must never under-report.

Every hostile file is built here. None is ever loaded by a real unpickler: the oracle below
resolves every import to an inert stub.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import pickle
import struct
import zlib

import joblib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.registry import safety

# -- hand assembly ----------------------------------------------------------------------------

PROTO4 = b"\x80\x04"
MARK, POP, POP_MARK, DUP, STOP = b"(", b"0", b"1", b"2", b"."
STACK_GLOBAL, REDUCE, BUILD, TUPLE, TUPLE1 = b"\x93", b"R", b"b", b"t", b"\x85"
EMPTY_DICT, EMPTY_TUPLE, NONE, MEMOIZE = b"}", b")", b"N", b"\x94"


def s(text: str) -> bytes:
    """SHORT_BINUNICODE: push a string."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def binput(i: int) -> bytes:
    return b"q" + bytes([i])


def binget(i: int) -> bytes:
    return b"h" + bytes([i])


def call_true() -> bytes:
    """Call what is on the stack with ('true',) and end the stream."""
    return s("true") + TUPLE1 + REDUCE + STOP


class _Stub:
    """What the oracle hands out for every import: constructing, calling, setting state and
    attributes do nothing and give more stubs."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Stub()

    def __setstate__(self, state=None):
        pass

    def __setattr__(self, name, value):
        pass

    def __getattr__(self, name):
        return _Stub()


class _Recorder(pickle.Unpickler):
    def __init__(self, file, seen):
        super().__init__(file)
        self.seen = seen

    def find_class(self, module, name):
        self.seen.append(f"{module}.{name}")
        return _Stub

    def persistent_load(self, pid):
        return _Stub()


def oracle(data: bytes) -> tuple[list[str], bool]:
    """Every import a real unpickler makes loading all the streams in ``data``, and whether
    it got through them all."""
    seen: list[str] = []
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        try:
            _Recorder(stream, seen).load()
        except Exception:
            return seen, False
    return seen, True


def scan(data: bytes) -> tuple[list[str], bool]:
    found, complete = safety.pickle_globals(data)
    assert len(found) == len(set(found))
    return found, complete


def assert_covers(data: bytes) -> tuple[list[str], bool]:
    """The scan says complete and lists at least what the oracle saw."""
    found, complete = scan(data)
    seen, loaded = oracle(data)
    assert loaded, "the test's pickle should load"
    assert complete
    assert set(seen) <= set(found), (seen, found)
    return found, complete


class Evil:
    def __reduce__(self):
        return (os.system, ("true",))


# -- the two evasions -------------------------------------------------------------------------


def test_strings_popped_before_stack_global_do_not_hide_the_real_import():
    data = PROTO4 + s("os") + s("system") + s("sklearn") + s("base") + POP + POP + STACK_GLOBAL + call_true()
    found, _ = assert_covers(data)
    assert "os.system" in found
    assert "sklearn.base" not in found


def test_a_joblib_object_array_first_does_not_end_the_scan(tmp_path):
    path = tmp_path / "evil.joblib"
    joblib.dump([np.array([1, "a"], dtype=object), Evil()], path)  # never loaded
    found, complete = safety.pickle_globals(path)
    assert {"posix.system", "os.system"} & set(found)
    assert not complete  # joblib array payloads cannot be followed with certainty
    report = safety.inspect_model_file(path)
    assert {"posix.system", "os.system"} & set(report.untrusted)
    assert any("do not trust this file unless you know where it came from" in n for n in report.notes)


def test_a_joblib_raw_array_first_is_incomplete_and_still_shows_the_import(tmp_path):
    path = tmp_path / "evil.joblib"
    joblib.dump([np.arange(5.0), Evil()], path)
    found, complete = safety.pickle_globals(path)
    assert not complete
    assert {"posix.system", "os.system"} & set(found)


# -- the stack model ----------------------------------------------------------------------------


def test_a_non_string_put_in_the_memo_is_not_a_string_when_read_back():
    # The memo's slot 0 holds a dict; reading it back must not replay the last string.
    data = (PROTO4 + s("sklearn") + EMPTY_DICT + binput(0) + POP + POP
            + s("posix") + s("system") + binget(0) + POP + STACK_GLOBAL + call_true())
    found, _ = assert_covers(data)
    assert "posix.system" in found
    assert "system.sklearn" not in found


def test_strings_read_from_the_memo_resolve():
    data = (PROTO4 + s("posix") + MEMOIZE + POP + s("system") + binput(7) + POP
            + binget(0) + binget(7) + STACK_GLOBAL + call_true())
    assert assert_covers(data)[0] == ["posix.system"]


def test_a_non_string_from_the_memo_as_operand_is_unresolved():
    data = PROTO4 + EMPTY_DICT + binput(0) + POP + binget(0) + s("system") + STACK_GLOBAL + call_true()
    found, complete = scan(data)
    assert not complete and "<unresolved STACK_GLOBAL>" in found


def test_a_memo_read_of_an_index_never_written_is_incomplete():
    data = PROTO4 + binget(3) + s("system") + STACK_GLOBAL + call_true()
    found, complete = scan(data)
    assert not complete


@pytest.mark.parametrize("hide", [
    MARK + s("sklearn") + s("base") + POP_MARK,  # POP_MARK drops everything above the mark
    MARK + s("sklearn") + s("base") + TUPLE + POP,  # the strings become a tuple
    s("sklearn") + DUP + POP + POP,
    EMPTY_DICT + MARK + s("sklearn") + s("base") + b"u" + POP,  # SETITEMS
])
def test_marks_tuples_and_dup_are_modelled(hide):
    data = PROTO4 + s("posix") + s("system") + hide + STACK_GLOBAL + call_true()
    found, _ = assert_covers(data)
    assert found == ["posix.system"]


def test_dup_of_a_string_feeds_stack_global():
    data = PROTO4 + s("posix") + DUP + POP + s("system") + STACK_GLOBAL + call_true()
    assert assert_covers(data)[0] == ["posix.system"]


@pytest.mark.parametrize("body", [
    POP + s("a") + s("b") + STACK_GLOBAL,  # underflow
    DUP + s("a") + s("b") + STACK_GLOBAL,
    POP_MARK + s("a") + s("b") + STACK_GLOBAL,  # no mark
    MARK + s("a") + STACK_GLOBAL,  # an operand is the mark
    NONE + s("system") + STACK_GLOBAL,  # not a string
])
def test_inconsistent_stacks_are_incomplete_never_a_crash(body):
    found, complete = scan(PROTO4 + body + EMPTY_TUPLE + REDUCE + STOP)
    assert not complete


@pytest.mark.parametrize("ext,code", [(b"\x82\x05", 5), (b"\x83\x01\x02", 0x0201),
                                      (b"\x84" + struct.pack("<i", 70000), 70000)])
def test_extension_codes_are_reported_and_incomplete(ext, code):
    found, complete = scan(b"\x80\x02" + ext + EMPTY_TUPLE + REDUCE + STOP)
    assert not complete and f"<extension code {code}>" in found


def test_persistent_ids_are_incomplete():
    assert not scan(b"\x80\x02" + s("id") + b"Q" + STOP)[1]


# -- streams ------------------------------------------------------------------------------------


def test_protocol_0_text_globals_and_inst():
    data = b"cposix\nsystem\n(S'true'\ntR."
    assert assert_covers(data)[0] == ["posix.system"]
    data = b"(S'true'\niposix\nsystem\n."
    assert assert_covers(data)[0] == ["posix.system"]


def test_python_2_names_are_also_shown_as_the_unpickler_maps_them():
    data = b"c__builtin__\neval\n(S'1'\ntR."
    found, _ = assert_covers(data)
    assert found == ["__builtin__.eval", "builtins.eval"]


def test_every_stream_in_the_file_is_scanned():
    data = pickle.dumps(1) + pickle.dumps([1, 2]) + pickle.dumps(Evil(), protocol=2)
    found, complete = assert_covers(data)
    assert "posix.system" in found


def test_bytes_between_streams_are_incomplete_and_the_next_stream_still_scanned():
    data = pickle.dumps(1) + b"\xff\xfe junk" + pickle.dumps(Evil())
    found, complete = scan(data)
    assert not complete and "posix.system" in found


@pytest.mark.parametrize("cut", [1, 5, 20, -2, -1])
def test_truncated_streams_are_incomplete(cut):
    data = pickle.dumps(Evil())
    assert not scan(data[:cut])[1]


@pytest.mark.parametrize("data", [b"", b"\x80\x04", b"\x80\x04\xff.", b"\x80\x04N", PROTO4 + s("a") * 2])
def test_odd_data_is_incomplete(data):
    assert not scan(data)[1]


# -- ordinary files keep their clean scan -------------------------------------------------------


def _model():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), np.arange(30) % 2
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), DecisionTreeClassifier().fit(X, y)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_plain_pickle_of_a_model_scans_complete(protocol):
    for model in _model():
        data = pickle.dumps(model, protocol=protocol)
        found, complete = scan(data)
        assert complete
        # the oracle's view: every name the real unpickler would ask for is listed
        seen, _ = oracle(data)
        assert set(seen) <= set(found)


def test_a_joblib_file_without_arrays_scans_complete(tmp_path):
    joblib.dump({"threshold": 0.5, "names": ["a", "b"]}, tmp_path / "m.joblib")
    assert safety.pickle_globals(tmp_path / "m.joblib") == ([], True)
    report = safety.inspect_model_file(tmp_path / "m.joblib")
    assert not any("may be incomplete" in n for n in report.notes)


def test_compressed_pickles_cut_at_the_scan_cap_are_incomplete(monkeypatch):
    data = pickle.dumps(["x" * 5000, Evil()])
    for packed in (zlib.compress(data), gzip.compress(data), bz2.compress(data)):
        assert safety.pickle_globals(packed) == (["posix.system"], True)
    monkeypatch.setattr(safety, "_MAX_SCAN_BYTES", 1000)
    for packed in (zlib.compress(data), gzip.compress(data), bz2.compress(data)):
        assert not safety.pickle_globals(packed)[1]


def test_a_truncated_compressed_file_is_incomplete():
    packed = zlib.compress(pickle.dumps(["x" * 5000, Evil()]))
    assert not safety.pickle_globals(packed[: len(packed) // 2])[1]


# -- fuzz -----------------------------------------------------------------------------------------

_NAMES = ["posix", "system", "sklearn", "base", "os", "builtins", "eval", "__builtin__", "copy_reg",
          "_reconstructor", "joblib", "a b", "x"]


def _text(name: str) -> bytes:
    return name.encode()


@st.composite
def _stream(draw) -> bytes:
    """One pickle stream from a small grammar, kept valid by a model of the stack's kinds:
    s string, d data, t tuple, c stub class, i stub instance, l list, m mark."""
    proto = draw(st.integers(0, 5))
    out = bytearray(b"\x80" + bytes([proto]) if proto >= 2 else b"")
    stack: list[str] = []
    memo: dict[int, str] = {}

    def above_mark() -> int:
        n = 0
        for kind in reversed(stack):
            if kind == "m":
                break
            n += 1
        return n

    for _ in range(draw(st.integers(0, 25))):
        top = stack[-1] if stack else None
        choices = ["str", "str", "data", "mark", "global"]
        if draw(st.integers(0, 30)) == 0:
            choices += ["ext"]  # the extension registry: unresolvable, the oracle fails too
        if stack:
            choices += ["pop"]
        if top and top != "m":
            choices += ["dup", "put", "memoize", "tuple1"]
        if "m" in stack:
            choices += ["pop_mark", "tuple"]
        if memo:
            choices += ["get", "get"]
        if above_mark() >= 2:
            choices += ["tuple2"]
            if stack[-2:] == ["s", "s"]:
                choices += ["stack_global"] * 4
            elif draw(st.integers(0, 15)) == 0:  # non-string operands, now and then
                choices += ["stack_global"]
            if stack[-2] in "ci" and stack[-1] == "t":
                choices += ["reduce", "reduce"]
            if stack[-2] == "c" and stack[-1] == "t":
                choices += ["newobj"]
            if stack[-2] == "i":
                choices += ["build"]
            if stack[-2] == "l":
                choices += ["append"]
        choice = draw(st.sampled_from(choices))
        if choice == "str":
            text = draw(st.sampled_from(_NAMES))
            form = draw(st.sampled_from(["short", "bin", "unicode", "string", "short_string"]))
            raw = text.encode()
            out += {
                "short": b"\x8c" + bytes([len(raw)]) + raw,
                "bin": b"X" + struct.pack("<I", len(raw)) + raw,
                "unicode": b"V" + raw + b"\n",
                "string": b"S'" + raw + b"'\n",
                "short_string": b"U" + bytes([len(raw)]) + raw,
            }[form]
            stack.append("s")
        elif choice == "data":
            code, kind = draw(st.sampled_from([(b"N", "d"), (b"K\x07", "d"), (b"}", "d"), (b"]", "l"),
                                               (b")", "t")]))
            out += code
            stack.append(kind)
        elif choice == "mark":
            out += MARK
            stack.append("m")
        elif choice == "pop":
            out += POP
            stack.pop()
        elif choice == "pop_mark":
            out += POP_MARK
            del stack[len(stack) - 1 - above_mark():]
        elif choice == "dup":
            out += DUP
            stack.append(stack[-1])
        elif choice == "put":
            i = draw(st.integers(0, 6))
            out += draw(st.sampled_from([b"q" + bytes([i]), b"r" + struct.pack("<I", i), b"p%d\n" % i]))
            memo[i] = stack[-1]
        elif choice == "memoize":
            out += MEMOIZE
            memo[len(memo)] = stack[-1]
        elif choice == "get":
            i = draw(st.sampled_from(sorted(memo)))
            out += draw(st.sampled_from([b"h" + bytes([i]), b"j" + struct.pack("<I", i), b"g%d\n" % i]))
            stack.append(memo[i])
        elif choice == "ext":
            out += b"\x82" + bytes([draw(st.integers(1, 255))])
            stack.append("c")
        elif choice == "global":
            module, name = draw(st.sampled_from(_NAMES)), draw(st.sampled_from(_NAMES))
            out += b"c" + _text(module) + b"\n" + _text(name) + b"\n"
            stack.append("c")
        elif choice == "stack_global":
            out += STACK_GLOBAL
            stack[-2:] = ["c"]
        elif choice in ("tuple1", "tuple2"):
            n = 1 if choice == "tuple1" else 2
            out += TUPLE1 if n == 1 else b"\x86"
            stack[-n:] = ["t"]
        elif choice == "tuple":
            out += TUPLE
            del stack[len(stack) - 1 - above_mark():]
            stack.append("t")
        elif choice == "reduce":
            out += REDUCE
            stack[-2:] = ["i"]
        elif choice == "newobj":
            out += b"\x81"
            stack[-2:] = ["i"]
        elif choice == "build":
            out += BUILD
            stack.pop()
        elif choice == "append":
            out += b"a"
            stack.pop()
    while "m" in stack:
        out += POP_MARK
        del stack[len(stack) - 1 - above_mark():]
    if not stack:
        out += NONE
    return bytes(out + STOP)


@st.composite
def _files(draw) -> bytes:
    data = b"".join(draw(st.lists(_stream(), min_size=1, max_size=3)))
    damage = draw(st.sampled_from(["none"] * 6 + ["truncate", "junk"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "junk":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_files())
def test_fuzz_a_complete_scan_lists_every_import_the_unpickler_makes(data):
    found, complete = safety.pickle_globals(data)  # must never raise
    assert isinstance(found, list) and isinstance(complete, bool)
    seen, loaded = oracle(data)
    if complete:
        # Even when the oracle fails part-way, the imports it made before failing happened
        # and must be listed.
        assert set(seen) <= set(found), (data, seen, found)


def test_an_ordinary_joblib_file_with_arrays_lists_real_names_only(tmp_path):
    path = tmp_path / "arrays.joblib"
    joblib.dump({"weights": np.random.default_rng(0).random(20_000), "bias": np.arange(7)}, path)
    found, complete = safety.pickle_globals(path)
    assert not complete  # raw array payloads are not followed
    assert "joblib.numpy_pickle.NumpyArrayWrapper" in found
    assert not any(name.startswith("<") for name in found), found  # no noise from the array bytes
