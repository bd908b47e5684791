"""Fuzzing the two files: any input loads, or fails as one SpecError with a place.

The invariant, for pin files and configs alike: loading either succeeds or raises
``SpecError`` whose every issue has a line and a column, and never anything else (how
fast is ``make bench``'s question; pytest's timeout catches a hang). CI runs 5,200 generated cases; ``make fuzz`` runs more
(``PINBACK_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.errors import SpecError
from daemon.spec import load_config, load_desired
from daemon.spec.yamlfile import MAX_BYTES
from tests.stands.service import CONFIG

SCALE = int(os.environ.get("PINBACK_FUZZ_EXAMPLES", "1"))
FUZZ = settings(
    # No deadline: hypothesis' per-example deadline is a timing assertion, and a loaded CI
    # machine misses it on 1 MiB inputs. How fast files load is a benchmark's question.
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
LOADED = load_config(CONFIG)

targets = st.sampled_from(
    ["frontend", "backend", "ai-worker", "database", "payments", "", "Ünïcode", "a" * 300]
)
odd_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    odd_text,
    st.sampled_from(
        ["9f1c2ab", "4b7e1c2d9a10", "base", "head", "v1.8.2", "30s", "1e400", "0x1F", "~", "null"]
    ),
)
fields = st.sampled_from(
    [
        "commit",
        "revision",
        "imageTag",
        "allowDestructive",
        "suspend",
        "reason",
        "override",
        "unknown",
        "",
    ]
)
entries = st.dictionaries(fields, scalars, max_size=5)


def nested(depth: int) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
        max_leaves=depth,
    )


pin_documents = st.fixed_dictionaries(
    {},
    optional={
        "apiVersion": st.sampled_from(["pinback/v1", "pinback/v2", 1]),
        "kind": st.sampled_from(["DesiredVersions", "Config", None]),
        "metadata": st.one_of(st.dictionaries(odd_text, scalars, max_size=3), nested(8)),
        "spec": st.one_of(
            st.dictionaries(targets, st.one_of(entries, nested(6)), max_size=5), nested(6)
        ),
        "extra": nested(10),
    },
)


def check(path: Path, raw: bytes, as_config: bool = False) -> None:
    path.write_bytes(raw)
    try:
        if as_config:
            load_config(path)
        else:
            load_desired(path, LOADED)
    except SpecError as exc:
        assert exc.issues, "a SpecError must list its issues"
        for issue in exc.issues:
            assert issue.line >= 1 and issue.column >= 1 and issue.message


def dump(document: Any) -> bytes:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False).encode()


@settings(FUZZ, max_examples=1500 * SCALE)
@given(document=pin_documents)
def test_generated_pin_files(tmp_path: Path, document: dict[str, Any]) -> None:
    check(tmp_path / "pins.yaml", dump(document))


MUTATIONS = st.sampled_from(
    ["tab", "bom", "duplicate", "anchor", "deep", "huge", "truncate", "flip", "nul", "tag"]
)


@settings(FUZZ, max_examples=1500 * SCALE)
@given(
    document=pin_documents,
    mutation=MUTATIONS,
    where=st.integers(0, 10_000),
    byte=st.integers(0, 255),
)
def test_mutated_pin_files(
    tmp_path: Path, document: dict[str, Any], mutation: str, where: int, byte: int
) -> None:
    raw = dump(document)
    at = where % (len(raw) + 1)
    if mutation == "tab":
        raw = raw[:at] + b"\t" + raw[at:]
    elif mutation == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif mutation == "duplicate":
        raw = raw + raw
    elif mutation == "anchor":
        raw = b"a: &x [1, 2]\nb: *x\n" + raw
    elif mutation == "deep":
        raw = b"spec: " + b"[" * (where % 5000) + b"]" * (where % 5000) + b"\n"
    elif mutation == "huge":
        raw = b"spec:\n  backend:\n    reason: '" + b"x" * min(MAX_BYTES + 10, where * 200) + b"'\n"
    elif mutation == "truncate":
        raw = raw[:at]
    elif mutation == "flip":
        raw = raw[:at] + bytes([byte]) + raw[at + 1 :]
    elif mutation == "nul":
        raw = raw[:at] + b"\x00" + raw[at:]
    elif mutation == "tag":
        raw = b"spec: !!python/object/apply:os.system ['true']\n" + raw
    check(tmp_path / "pins.yaml", raw)


@settings(FUZZ, max_examples=1000 * SCALE)
@given(raw=st.binary(max_size=2000))
def test_raw_bytes(tmp_path: Path, raw: bytes) -> None:
    check(tmp_path / "pins.yaml", raw)


@settings(FUZZ, max_examples=1200 * SCALE)
@given(
    text=st.text(alphabet=string.printable + "üé€\u2028\ufeff", max_size=400),
    prefix=st.sampled_from(
        [
            b"",
            b"apiVersion: pinback/v1\nkind: Config\n",
            b"apiVersion: pinback/v1\nkind: Config\naws: {region: x}\ntargets:\n",
        ]
    ),
)
def test_configs(tmp_path: Path, text: str, prefix: bytes) -> None:
    check(tmp_path / "pinback.yaml", prefix + text.encode(), as_config=True)
