"""Page furniture: navigation, comment forms, share buttons, datelines glued to a first sentence.

Furniture is kept and shown, but never aligned to content nor counted in corpus scores.
"""
from __future__ import annotations

import re

_LINE_PATTERNS = [
    # "Previous: Headline", "Next article Headline", or a bare "Next Headline" with no final period
    # ("Next came the Sadducees." is prose)
    r"(previous|next|prev)( (article|post|story|page))?\s*[:»›>|-]\s*.{0,160}",
    r"(previous|next|prev) (article|post|story|page)\s.{0,160}",
    r"(previous|next|prev)\s[^.!?]{0,160}[^.!?\s]",
    r"(previous|next|prev|older|newer)( (article|post|story|page|posts))?\s*[:»›>]?",
    r"share( this)?( (article|post|story|page))?( on \w+)?[:!.]?",
    r"(no|\d+) comments?[.!]?",
    r"leave a (reply|comment)[.!]?",
    r"(post|add|write|submit) (a |your )?comment[.!]?",
    r"your email( address)? will not be published.{0,80}",
    r"required fields are marked.{0,10}",
    r"(name|email|website|comment)\s*\*?[:]?",
    r"(related|read more|recommended|more from|most read|trending)( (articles|stories|posts|news))?[:.]?.{0,120}",
    r"(subscribe|sign up|log ?in|register)( (now|here|today|to our newsletter))?.{0,60}",
    r"(tags?|categories|filed under|posted in)\s*:.{0,160}",
    r"(copyright|©|\(c\)).{0,120}",
    r"all rights reserved.{0,40}",
    r"advertisement|sponsored( content)?",
    r"follow us( on .{0,40})?",
    r"click here.{0,80}",
    r"(save my name, email, and website|notify me of).{0,160}",
    r"(home|menu|search|skip to (main )?content)",
]
_LINE_RE = re.compile(r"^\s*(?:" + "|".join(_LINE_PATTERNS) + r")\s*$", re.IGNORECASE)

# A dateline or source tag glued in front of the first sentence of an article.
_PREFIX_RES = [
    re.compile(r"^\s*(?:date\s*:?\s*)?\d{4}-\d{2}-\d{2}\b[^/\n]{0,60}?/\s*"),
    re.compile(r"^\s*(?:posted|published|updated)( on)?\s*:?\s*[\w ,:-]{4,40}?\s*[/|]\s*", re.IGNORECASE),
    re.compile(r"^\s*[A-Z][A-Z .,'’]{1,30}(?:\s*\([A-Za-z .]{2,30}\))?\s+[-–—]{1,2}\s+(?=[A-Z“\"])"),
]


def is_furniture(line: str) -> bool:
    """A whole line (or sentence) that is page furniture rather than content."""
    line = line.strip()
    if not line or len(line) > 220:
        return False
    return bool(_LINE_RE.match(line))


def split_prefix(sentence: str, first_paragraphs: bool = True) -> tuple[str, str]:
    """Split a dateline/source prefix off a sentence: ('date 2021-07-15 Source /', 'The rest ...').
    Returns ('', sentence) when there is none. Only an ISO-dated prefix is looked for past the first
    paragraphs (pages that carry several articles); the looser forms only open an article."""
    for rx in _PREFIX_RES if first_paragraphs else _PREFIX_RES[:1]:
        m = rx.match(sentence)
        if m and len(sentence) - m.end() >= 20:
            return sentence[: m.end()].rstrip(), sentence[m.end():]
    return "", sentence
