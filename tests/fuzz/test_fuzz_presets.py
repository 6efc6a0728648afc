"""Preset YAML, hostile or just wrong: only a one-line LivegenError ever reaches the user."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from fuzzkit import assert_clean_exit, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livegen.errors import LivegenError
from livegen.presets import KEYS, load_preset

SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                   st.sampled_from(["1/16", "midi", "bar", "silence", "cc", "romantic", "palette"]))
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.integers(-5, 200), st.text(max_size=6)),
                                                  inner, max_size=4)), max_leaves=10)
#: mostly real keys (so validation goes deep), some unknown ones
PRESET = st.dictionaries(st.one_of(st.sampled_from(sorted(KEYS)), st.text(max_size=10)), VALUE,
                         max_size=8)
RAW = st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1")))


def _write(text: str | bytes) -> Path:
    with tempfile.NamedTemporaryFile("wb", suffix=".yaml", delete=False) as file:
        file.write(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    return Path(file.name)


def _dump(data: dict) -> str:
    return yaml.safe_dump(data, allow_unicode=True)


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(PRESET.map(_dump), RAW))
def test_loading_any_preset_file_raises_only_livegen_errors(text):
    path = _write(text)
    try:
        load_preset(path)
    except LivegenError as err:
        assert "\n" not in str(err).strip() and len(str(err)) < 2000
    finally:
        path.unlink()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(PRESET.map(_dump), RAW))
def test_the_cli_reports_any_bad_preset_in_one_line(text, tmp_path_factory):
    path = _write(text)
    out = tmp_path_factory.getbasetemp() / "out.mid"
    try:
        # the input does not exist: a good preset gets as far as that one-line error
        assert_clean_exit(*run_cli(["continue", str(path) + ".absent.mid", "-o", str(out),
                                    "--preset", str(path)]))
    finally:
        path.unlink()
