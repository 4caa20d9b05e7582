"""The scripts people write their names in render from real glyphs, regular and bold.

Issue #12: Korean, Thai, Devanagari, Bengali and Tamil were tofu boxes. For the scripts of
the 30 most-spoken languages (and their neighbours) this proves, per sample sentence:
1. every character is in the cmap of a shipped font, in a regular and in a bold file, found
   by walking fonts.conf's fallback order the way fontconfig does (first family that has it);
2. Pango really draws from that font: a word set in "Inter" (so every glyph comes by
   fallback) gives exactly the pixels of the same word set in the covering font by name;
3. a golden per script (regular and bold lines).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
import pyvips
from fontTools.ttLib import TTFont

import proxy.render  # noqa: F401  (fonts are set up before any text renders)
from proxy.render import RenderJob, RenderMemo, render
from proxy.render.vips import FONT_SUFFIXES, fonts_dir
from proxy.spec import OutputOptions
from proxy.template.load import load_template
from proxy.template.values import coerce

# One sample per script: names and words as people write them (the languages in brackets).
SAMPLES: dict[str, str] = {
    # English, Spanish, French, Portuguese, German, Indonesian, Turkish, Vietnamese, Swahili,
    # Hausa, Yoruba, Tagalog, Javanese, Polish, Czech
    "latin": "François Müller, Çağla Öztürk, Nguyễn Thị Ánh, Adébáyọ̀ Ọlá, Małgorzata Dvořák",
    "cyrillic": "Александр Пушкин, Олена Шевченко",                  # Russian, Ukrainian
    "greek": "Νίκος Παπαδόπουλος",
    "arabic": "محمد عبد الرحمن، پژمان، عمران ٹیپو گڑھ",              # Arabic, Persian, Urdu
    "hebrew": "דוד לוי ושרה כהן",
    "devanagari": "अमित शर्मा, क्षत्रिय, श्रीनिवास",                  # Hindi, Marathi, Bhojpuri
    "bengali": "রবীন্দ্রনাথ ঠাকুর",
    "gurmukhi": "ਗੁਰਪ੍ਰੀਤ ਸਿੰਘ",                                       # Punjabi
    "gujarati": "નરેન્દ્ર પટેલ",
    "oriya": "ଓଡ଼ିଆ ଭାଷା",                                           # Odia
    "tamil": "முத்துலட்சுமி ரெட்டி",
    "telugu": "వెంకటేశ్వర రావు",
    "kannada": "ಕುವೆಂಪು ಪುಟ್ಟಪ್ಪ",
    "malayalam": "മോഹൻലാൽ വിശ്വനാഥൻ",
    "sinhala": "ශ්‍රී ලංකාව",
    "thai": "สมชาย ใจดี",
    "lao": "ສົມພອນ ວົງສາ",
    "khmer": "សុខ សាន្ត",
    "myanmar": "အောင်ဆန်းစုကြည်",                                    # Burmese
    "ethiopic": "ኃይለ ሥላሴ",                                          # Amharic
    "georgian": "ნინო ბერიძე",
    "armenian": "Արամ Խաչատրյան",
    "han": "张伟、王芳、陳大文",                                        # Mandarin, Cantonese, Wu
    "japanese": "山田太郎、さくら、カタカナ",
    "hangul": "김민준, 이서연",                                         # Korean
}
# Droid Sans Fallback has one weight: bold Han and kana are synthesised (emboldened) by cairo.
SYNTHETIC_BOLD = frozenset({"han", "japanese"})


@cache
def _fallback_order() -> tuple[str, ...]:
    """The families fonts.conf appends to every request, in order."""
    conf = (fonts_dir() / "fonts.conf").read_text()
    block = re.search(r'<edit name="family" mode="append"[^>]*>(.*?)</edit>', conf, re.S)
    assert block is not None, "fonts.conf has no fallback list"
    return tuple(re.findall(r"<string>(.*?)</string>", block.group(1)))


@cache
def _faces() -> dict[str, list[tuple[int, str, frozenset[int]]]]:
    """Family -> [(weight, file name, cmap)] of every shipped font file."""
    faces: dict[str, list[tuple[int, str, frozenset[int]]]] = {}
    for path in sorted(fonts_dir().iterdir()):
        if path.suffix.lower() not in FONT_SUFFIXES:
            continue
        font = TTFont(str(path), lazy=True)
        name = font["name"]
        family = str(name.getName(16, 3, 1, 0x409) or name.getName(1, 3, 1, 0x409))
        faces.setdefault(family, []).append(
            (font["OS/2"].usWeightClass, path.name, frozenset(font.getBestCmap())))
    return faces


def _covering(char: str, weight: int) -> tuple[str, int, str] | None:
    """(family, weight, file) fontconfig falls back to for `char`: the first family in order
    with the character, its face of the nearest weight."""
    for family in ("Inter", *_fallback_order()):
        faces = _faces().get(family, [])
        if not faces:
            continue
        face = min(faces, key=lambda f: abs(f[0] - weight))
        if ord(char) in face[2]:
            return family, face[0], face[1]
    return None


def _letters(text: str) -> list[str]:
    """What must have a glyph: not spaces, not default-ignorable format characters (ZWJ)."""
    return [c for c in text if not c.isspace() and unicodedata.category(c) != "Cf"]


def test_the_fallback_order_names_only_shipped_families() -> None:
    assert set(_fallback_order()) <= set(_faces()), set(_fallback_order()) - set(_faces())


@pytest.mark.parametrize("script", sorted(SAMPLES))
def test_every_character_has_a_real_glyph_in_regular_and_bold(script: str) -> None:
    for weight in (400, 700):
        missing = [f"U+{ord(c):04X} {c}" for c in _letters(SAMPLES[script])
                   if _covering(c, weight) is None]
        assert missing == [], f"{script} at weight {weight}: no shipped glyph for {missing}"
        families = {_covering(c, weight)[0] for c in _letters(SAMPLES[script])}  # type: ignore[index]
        assert "Noto Color Emoji" not in families, f"{script}: letters drawn from the emoji font"
        if weight == 700 and script not in SYNTHETIC_BOLD:
            weights = {_covering(c, weight)[1] for c in _letters(SAMPLES[script])}  # type: ignore[index]
            assert weights == {700}, f"{script}: bold comes from a non-bold file ({weights})"


def _text(text: str, font: str) -> pyvips.Image:
    return pyvips.Image.text(text, font=f"{font} 40px", dpi=72, rgba=True)


def _pixels(image: pyvips.Image) -> tuple[int, int, bytes]:
    return image.width, image.height, bytes(image.write_to_memory())


@pytest.mark.parametrize("script", sorted(SAMPLES))
def test_pango_draws_the_covering_font_not_tofu(script: str) -> None:
    word = max(re.findall(r"\w[\w\u200c\u200d\u0300-\u036f]*", SAMPLES[script]), key=len)
    for style, weight in (("", 400), (" Bold", 700)):
        family = _covering(word[0], weight)
        assert family is not None
        by_fallback = _text(word, "Inter" + style)
        by_name = _text(word, family[0] + style)
        assert by_fallback.avg() > 0
        assert _pixels(by_fallback) == _pixels(by_name), (
            f"{script}{style}: {word!r} by fallback differs from {family[0]}{style}")


TEMPLATE = """size = [760, 130]
background = "#ffffff"
[variables.sample]
type = "text"
max_length = 200
[[layers]]
type = "text"
box = [10, 5, 740, 60]
text = "{{sample}}"
font = "Inter"
size = 34
min_size = 12
max_lines = 1
color = "#111827"
[[layers]]
type = "text"
box = [10, 68, 740, 60]
text = "{{sample}}"
font = "Inter Bold"
size = 34
min_size = 12
max_lines = 1
color = "#111827"
"""


@pytest.mark.parametrize("script", sorted(SAMPLES))
def test_script_golden(script: str, tmp_path: Path, golden: Callable[..., None]) -> None:
    path = tmp_path / "sample.toml"
    path.write_text(TEMPLATE.format())
    template = load_template(path)
    job = RenderJob(template=template, values=coerce(template, {"sample": SAMPLES[script]}),
                    output=OutputOptions(format="png"))
    rendered = render(job, RenderMemo())
    assert rendered.fits and not any(fit.cut for fit in rendered.fits)
    golden(rendered.data, f"script-{script}", fmt="png")
