"""Pre-tokenizer presets against the reference regexes run with Python's `regex` module."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import regex
from hypothesis import example, given, settings
from hypothesis import strategies as st

import toksmith
from reference import (
    FLORES_LANGS,
    FLORES_LINES,
    PRESET_PATTERNS,
    SPLIT_PRESETS,
    format_mismatches,
    pretok_sweep,
    reference_split,
    run_sweep,
)
from strategies import texts

TRICKY = [
    "",
    " ",
    "\n",
    "hello world",
    "Hello  world\n\n  x",
    "text ending in newline and spaces\n  ",
    "x \n\n ",
    "tabs\tand\t\ttabs\t",
    "windows\r\nline\r\n\r\nends\r\n",
    "I'm sure it's what you'LL do, 'tis DON'T",
    "ſ's and 'S and 'ſ",
    "numbers 1234567 and ٣٤٥٦ and ½ and Ⅻ",
    "path/to/file\n/root/ //x",
    "emoji 👍🏽 then 🇫🇷\u00a0nbsp\u3000ideographic\u0085nel",
    "e\u0301 combining e\u0301\u0301 marks",
    "   leading and trailing   ",
    "a\n\n\nb",
    "  \n  \n  ",
]


def test_presets_list() -> None:
    assert set(PRESET_PATTERNS) <= set(toksmith.PRESETS)
    for p in toksmith.PRESETS:
        assert toksmith.Pretokenizer(p).spec == p


EXTRA_PRESETS = [p for p in toksmith.PRESETS if p not in PRESET_PATTERNS]


def _declared_pattern(preset: str) -> str:
    """The regex a preset declares, for Python's `regex` (whose `$` also matches before a final newline)."""
    pat = toksmith.Pretokenizer(preset).pattern
    assert pat is not None
    return regex.sub(r"(?<!\\)\$", r"\\Z", pat)


@pytest.mark.skipif(not EXTRA_PRESETS, reason="no presets beyond the reference ones")
@pytest.mark.parametrize("preset", EXTRA_PRESETS)
@settings(max_examples=200)
@given(text=texts(max_size=60))
@example(text="\n".join(TRICKY))
def test_extra_presets_follow_their_declared_pattern(preset: str, text: str) -> None:
    """Presets without a reference in this suite must at least split as the regex they declare."""
    assert toksmith.Pretokenizer(preset).split(text) == regex.findall(_declared_pattern(preset), text)


@pytest.mark.parametrize("preset", list(PRESET_PATTERNS))
@pytest.mark.parametrize("text", TRICKY)
def test_tricky_strings(preset: str, text: str) -> None:
    assert toksmith.Pretokenizer(preset).split(text) == reference_split(preset, text)


@pytest.mark.parametrize("preset", SPLIT_PRESETS)
def test_pattern_property_is_reference(preset: str) -> None:
    """The pattern a preset reports is the reference regex (same meaning, checked on the tricky strings)."""
    pat = toksmith.Pretokenizer(preset).pattern
    assert pat is not None
    for t in TRICKY:
        assert regex.findall(pat, t) == reference_split(preset, t)


@pytest.mark.parametrize("preset", SPLIT_PRESETS)
def test_chunks_cover_text(preset: str) -> None:
    for t in TRICKY:
        chunks = toksmith.Pretokenizer(preset).split(t)
        assert "".join(chunks) == t
        assert all(chunks)


def test_none_preset_is_one_chunk() -> None:
    pt = toksmith.Pretokenizer("none")
    assert pt.split("") == []
    for t in TRICKY[1:]:
        assert pt.split(t) == [t]


@pytest.mark.slow
@pytest.mark.parametrize("preset", SPLIT_PRESETS)
def test_flores_all_languages(
    preset: str, pool: ProcessPoolExecutor, flores_zip: Path, flores_all_members: list[str]
) -> None:
    """Every line of all 204 languages (dev + devtest), and every whole file."""
    res = run_sweep(pool, pretok_sweep, flores_zip, flores_all_members, preset)
    assert res.files == 2 * FLORES_LANGS
    assert res.lines == FLORES_LANGS * sum(FLORES_LINES.values())
    assert not res.mismatches, format_mismatches(res)


@pytest.mark.parametrize("preset", list(PRESET_PATTERNS))
@settings(max_examples=400)
@given(text=texts(max_size=60))
@example(text="a'sb 's 'S 'ſ")
@example(text="\r\n\r\n \n \t\u3000\u00a0\u0085")
def test_random_text(preset: str, text: str) -> None:
    assert toksmith.Pretokenizer(preset).split(text) == reference_split(preset, text)


@pytest.mark.parametrize("preset", [f"digits+{p}" for p in PRESET_PATTERNS])
@settings(max_examples=200)
@given(text=texts(max_size=60))
@example(text="abc123def 4567 ٣٤٥ ½x")
def test_digits_prefix(preset: str, text: str) -> None:
    """`digits+P`: each numeric character alone (HF `Digits(individual_digits=True)`), then P."""
    assert toksmith.Pretokenizer(preset).split(text) == reference_split(preset, text)


CUSTOM_PATTERNS = [
    r"\w+|[^\w\s]+|\s+",
    r"\p{L}+|\p{N}|[^\p{L}\p{N}]",
    r" ?[^\s]+(?=\s|$)|\s+",
]


@pytest.mark.parametrize("pattern", CUSTOM_PATTERNS)
@settings(max_examples=150)
@given(text=texts(max_size=40))
def test_regex_spec(pattern: str, text: str) -> None:
    assert toksmith.Pretokenizer("regex:" + pattern).split(text) == reference_split("regex:" + pattern, text)


@pytest.mark.parametrize("preset", SPLIT_PRESETS)
def test_regex_spec_of_preset_pattern(preset: str) -> None:
    """A `regex:` spec spelling a preset's reference regex splits exactly like the preset."""
    pat = PRESET_PATTERNS[preset]
    assert pat is not None
    by_regex = toksmith.Pretokenizer("regex:" + pat)
    for t in TRICKY:
        assert by_regex.split(t) == toksmith.Pretokenizer(preset).split(t)


@given(text=st.text(max_size=30))
def test_spec_round_trip(text: str) -> None:
    for spec in [*PRESET_PATTERNS, "digits+cl100k", "regex:\\w+|\\W+"]:
        pt = toksmith.Pretokenizer(spec)
        again = toksmith.Pretokenizer(pt.spec)
        assert again.split(text) == pt.split(text)
