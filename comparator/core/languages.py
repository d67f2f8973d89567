"""Which language a text is in, roughly, from its characters alone (no model, no dependency), and
whether two texts are in the same one.

`detect(text)` counts the letters of each script (Unicode character names: Han, Hiragana, Hangul,
Cyrillic, Arabic, ...; a Han character, kana or Hangul syllable counts as SYLLABIC_WEIGHT letters). A script with at least DOMINANT of the letters names the text: Han alone is
`zh`, Han with kana `ja`, Hangul `ko`, the others by their script (`cyrillic`, `arabic`, ...: a script is
enough to tell two texts apart). Latin-script text is told apart by its commonest short words (the
function words of English, French, German, Spanish, Italian, Portuguese and Dutch): the language whose
words make most of the text's tokens, when they make at least MIN_FUNCTION of them, else `latin`. A text
with no script at DOMINANT is `mixed`; one with too few letters to say, None.

`decide(a, b, given)` says whether a comparison is cross-lingual: from the user's `languages` setting
("zh,en") when given, else from `detect` on both texts. Unknown (None) never makes a pair cross-lingual:
a short or digit-only text is treated as the same language as the other side.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

DOMINANT = 0.6  # share of the letters one script needs to name the text
MIN_LETTERS = 12  # fewer letters than this: not enough to say
MIN_FUNCTION = 0.08  # share of a Latin text's words that must be one language's function words
SYLLABIC_WEIGHT = 3  # letters' worth of one Han character, kana or Hangul syllable
SAMPLE_CHARS = 200_000  # a long text is judged on its start, middle and end (enough, and bounded)

# the commonest short words of each Latin-script language the check knows; ambiguous ones left out
_FUNCTION = {
    "en": "the of and to in is that it was for with as on be at by this had not are but from have they you "
          "which his her she he we were been has their would what there will an or if",
    "fr": "le la les des est une que qui dans pour pas sur au aux du ce cette sont avec il elle nous vous ils "
          "mais ou leur lui été être fait",
    "de": "der die das und ist nicht ein eine zu den von mit sich des auf für im dem auch es wird sie wir ich "
          "bei oder aus nach wie",
    "es": "el los las del que en y es por con una para se su al lo como más pero sus le ya fue este está son",
    "it": "il di che è per non una sono con del della gli si al le ma come anche più questo alla nel dei",
    "pt": "o os as do da dos das que em um uma para com não se por mais ao foi como mas ele ela são seu sua",
    "nl": "de het een van en is dat op te zijn niet met voor er aan ook als bij maar om dan wat nog",
}
_WORDS = {lang: frozenset(ws.split()) for lang, ws in _FUNCTION.items()}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_SCRIPT_CODE = {"CJK": "zh", "HANGUL": "ko"}
_SYLLABIC = frozenset({"CJK", "KANA", "HANGUL"})


@dataclass(frozen=True)
class Languages:
    a: str | None  # the language of A: a code (en, zh, ...), a script, "mixed", or None (cannot say)
    b: str | None
    given: bool  # said by the user (settings.languages) rather than found from the text
    cross: bool  # the two sides are in different languages
    same_script: bool = True  # both texts read as written in one script (found from the text)

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "given": self.given, "cross_lingual": self.cross}


@lru_cache(maxsize=65536)
def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    if "\u3040" <= ch <= "\u30ff" or "\u31f0" <= ch <= "\u31ff":
        return "KANA"
    name = unicodedata.name(ch, "")
    if not name:
        return None
    first = name.split(" ", 1)[0]
    if first in ("CJK", "KANGXI"):
        return "CJK"
    if first in ("FULLWIDTH", "HALFWIDTH"):
        return "LATIN" if "LATIN" in name else ("KANA" if "KATAKANA" in name else None)
    return first


def _sample(text: str) -> str:
    if len(text) <= SAMPLE_CHARS:
        return text
    third = SAMPLE_CHARS // 3
    mid = len(text) // 2
    return text[:third] + " " + text[mid - third // 2: mid + third // 2] + " " + text[-third:]


def _latin_language(text: str) -> str:
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return "latin"
    hits = {lang: sum(1 for w in words if w in ws) for lang, ws in _WORDS.items()}
    best = max(hits, key=lambda k: (hits[k], k == "en"))
    return best if hits[best] >= MIN_FUNCTION * len(words) else "latin"


def detect(text: str) -> str | None:
    """The language (or script) a text reads as; "mixed" when no script dominates; None when the text has
    too few letters to say."""
    text = _sample(text)
    counts: dict[str, int] = {}
    for ch in text:
        s = _script(ch)
        if s is not None:
            # a Han character, a kana or a Hangul syllable carries about what three alphabet letters do
            counts[s] = counts.get(s, 0) + (SYLLABIC_WEIGHT if s in _SYLLABIC else 1)
    letters = sum(counts.values())
    if letters < MIN_LETTERS:
        return None
    if counts.get("KANA", 0) >= 0.1 * letters and counts.get("KANA", 0) + counts.get("CJK", 0) >= DOMINANT * letters:
        return "ja"
    top = max(counts, key=counts.get)
    if counts[top] < DOMINANT * letters:
        return "mixed"
    if top == "LATIN":
        return _latin_language(text)
    return _SCRIPT_CODE.get(top, top.lower())


def parse(value: str) -> tuple[str, str] | None:
    """The user's "A,B" languages (e.g. "zh,en"); None for "" or "auto". Raises ValueError when malformed."""
    value = (value or "").strip().lower()
    if value in ("", "auto"):
        return None
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 2 or not all(re.fullmatch(r"[a-z]{2,3}(?:[-_][a-z0-9]{2,8})?", p) for p in parts):
        raise ValueError(f"languages {value!r}: give two language codes, A's then B's, e.g. zh,en (or auto)")
    return parts[0], parts[1]


def _base(code: str | None) -> str | None:
    return code.split("-")[0].split("_")[0] if code else code


_LATIN = frozenset(_FUNCTION) | {"latin"}


def script(code: str | None) -> str | None:
    """The script a detected language is written in (Latin for the Latin-script languages)."""
    return "latin" if code in _LATIN else code


def decide(text_a: str, text_b: str, given: str = "") -> Languages:
    pair = parse(given)
    la, lb = detect(text_a), detect(text_b)
    same_script = la is None or lb is None or script(la) == script(lb)
    if pair is not None:
        return Languages(pair[0], pair[1], True, _base(pair[0]) != _base(pair[1]), same_script)
    cross = la is not None and lb is not None and la != lb and not ({la, lb} <= {"latin", "en"})
    # Latin text without a known language's words against a known one: the same script, maybe the same
    # language (short or unusual text); only a clear difference counts
    if cross and "latin" in (la, lb):
        cross = False
    return Languages(la, lb, False, cross, same_script)


def english_or_unknown(code: str | None) -> bool:
    return code in (None, "en", "latin")
