"""Reading documents: bytes or paths to text, encoding detection, and normalisation for matching.

The text as written is kept for display; `normalise` gives the form used for embedding and
metrics (NFC, one kind of space, no zero-width or control characters).
"""
from __future__ import annotations

import codecs
import os
import re
import stat
import time
import unicodedata
from dataclasses import dataclass, field

from comparator.core.errors import InputError

# Inputs larger than this are refused with a message rather than a long hang.
MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Document:
    """Decoded text and how it was decoded (`note` says when a fallback was used)."""

    text: str
    encoding: str
    note: str = ""
    name: str = ""
    # paragraphs of `text` that are page furniture (from an HTML page: what is not its main text)
    furniture: frozenset = field(default_factory=frozenset)


_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _looks_utf16(data: bytes) -> str | None:
    """UTF-16 without BOM: ASCII text has a NUL in every other byte."""
    if len(data) < 4:
        return None
    even, odd = data[0::2], data[1::2]
    n = min(len(even), len(odd))
    if n and odd.count(0) > 0.4 * n and even.count(0) < 0.05 * n:
        return "utf-16-le"
    if n and even.count(0) > 0.4 * n and odd.count(0) < 0.05 * n:
        return "utf-16-be"
    return None


def _is_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    sample = text[:65536]
    if not sample:
        return False
    bad = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v\x1b")
    return bad > max(8, 0.05 * len(sample))


def decode(data: bytes, name: str = "input") -> Document:
    """Decode bytes to text: BOMs, UTF-8, UTF-16, then a legacy 8-bit fallback (said in `note`)."""
    if len(data) > MAX_BYTES:
        raise _limit_error(name, len(data))
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError:
                raise InputError(f"{name}: starts with a {enc} byte-order mark but is not valid {enc}") from None
            return _checked(Document(text, enc, name=name))
    utf16 = _looks_utf16(data)
    if utf16:
        try:
            return _checked(Document(data.decode(utf16), utf16, name=name))
        except UnicodeDecodeError:
            pass
    if b"\x00" in data:
        raise InputError(f"{name}: looks like a binary file, not text")
    try:
        return _checked(Document(data.decode("utf-8"), "utf-8", name=name))
    except UnicodeDecodeError:
        pass
    enc, text = _legacy(data)
    return _checked(Document(text, enc, note=f"{name}: not UTF-8; read as {enc}", name=name))


def _legacy(data: bytes) -> tuple[str, str]:
    """Legacy 8-bit text. Western text in cp1252 (a superset of latin-1's printable range) is by far the
    usual case, and detectors guess wrongly on short Western texts, so cp1252 wins when it decodes to
    Latin script; otherwise charset-normalizer decides, and latin-1 (which decodes anything) is last."""
    try:
        text = data.decode("cp1252")
        letters = [ch for ch in text if ch.isalpha()]
        ascii_share = sum(1 for ch in letters if ch.isascii()) / max(1, len(letters))
        if not letters or (ascii_share >= 0.6 and all(ord(ch) < 0x250 for ch in letters)):
            return "cp1252", text
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None and best.encoding:
            return best.encoding, data.decode(best.encoding)
    except Exception:  # detection is a hint only
        pass
    return "latin-1", data.decode("latin-1")


def _checked(doc: Document) -> Document:
    if _is_binary(doc.text):
        raise InputError(f"{doc.name}: looks like a binary file, not text")
    if looks_like_html_page(doc.text, doc.name):
        return from_html(doc)
    return doc


_HTML_START = re.compile(r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>])",
                         re.IGNORECASE | re.DOTALL)
_BLOCK_TAGS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "th", "dt", "dd",
               "figcaption", "caption", "address", "summary", "label", "button", "a", "span", "div", "section",
               "article", "aside", "nav", "header", "footer", "form", "main", "option", "legend")


def looks_like_html_page(text: str, name: str = "") -> bool:
    """A whole web page (not text that merely contains a tag or two)."""
    if _HTML_START.match(text[:4096]):
        return True
    return name.lower().endswith((".html", ".htm", ".xhtml")) and "<" in text and "</" in text


def _visible_blocks(html: str) -> list[str]:
    """Visible text of the page as blocks in document order (innermost block elements)."""
    import lxml.html

    try:
        root = lxml.html.document_fromstring(html)
    except Exception:  # lxml rejects some malformed pages; then there is nothing to split out
        return []
    for bad in root.xpath("//script|//style|//noscript|//template|//head|//svg"):
        bad.drop_tree()
    blocks: list[str] = []

    def walk(el):
        children = [c for c in el if isinstance(c.tag, str)]
        has_block_child = any(isinstance(d.tag, str) and d.tag in _BLOCK_TAGS for d in el.iterdescendants())
        if el.tag in _BLOCK_TAGS and not has_block_child:
            text = " ".join(el.text_content().split())
            if text:
                blocks.append(text)
            return
        if el.text and el.text.strip() and has_block_child:
            blocks.append(" ".join(el.text.split()))
        for c in children:
            walk(c)
            if c.tail and c.tail.strip():
                blocks.append(" ".join(c.tail.split()))

    body = root.find("body")
    walk(body if body is not None else root)
    return blocks


def from_html(doc: Document) -> Document:
    """A web page: its main text (trafilatura) as content, every other visible block kept as furniture."""
    try:
        import trafilatura

        main = trafilatura.extract(doc.text, include_comments=False, include_tables=True, favor_recall=True) or ""
    except Exception:  # extraction is best effort; the page's visible text is still read below
        main = ""
    main_flat = " ".join(main.split())
    blocks = _visible_blocks(doc.text)
    if not blocks:
        blocks = [b for b in main.split("\n") if b.strip()]
    furniture = frozenset(b for b in blocks if not main_flat or b not in main_flat)
    text = "\n\n".join(blocks)
    note = f"{doc.name}: HTML page; main text by trafilatura, {len(furniture)} other blocks kept as page furniture"
    return Document(text, doc.encoding, note=(doc.note + "; " if doc.note else "") + note, name=doc.name,
                    furniture=furniture)


# A named pipe with nothing writing to it would block forever on open: wait this long for a writer.
PIPE_WAIT = 5.0


def _limit_error(shown: str, size: int | None = None) -> InputError:
    limit = f"the {MAX_BYTES // (1024 * 1024)} MB limit"
    if size is None:
        return InputError(f"{shown}: more than {limit} (reading stopped there)")
    return InputError(f"{shown}: {size / 1e6:.1f} MB is over {limit}")


def _read_bounded(fh, shown: str) -> bytes:
    # at most one byte past the limit: an endless input (a device, `yes |`) is refused as soon as it is over
    data = fh.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _limit_error(shown)
    return data


def _kind_refusal(mode: int, shown: str, fd: int | None = None) -> InputError | None:
    """Why a file of this kind cannot be read as text (None: it can). Terminals are fine: they end at ^D."""
    if stat.S_ISDIR(mode):
        return InputError(f"{shown}: is a directory, not a file")
    if stat.S_ISCHR(mode) and not (fd is not None and os.isatty(fd)):
        return InputError(f"{shown}: is a device, not a text file")
    if stat.S_ISBLK(mode):
        return InputError(f"{shown}: is a device, not a text file")
    if stat.S_ISSOCK(mode) and fd is None:
        return InputError(f"{shown}: is a socket, not a text file")
    return None


def _open_fifo(path: str, shown: str) -> "_Prefixed":
    """A named pipe's read end, once something writes to it (a plain open would wait for ever)."""
    import select

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        deadline = time.monotonic() + PIPE_WAIT
        hung_up = False
        while True:
            try:
                first = os.read(fd, 1)
            except BlockingIOError:  # a writer is there but has written nothing yet: wait for it as for a file
                first = None
            if first or first is None or hung_up:  # data, a writer, or a writer that came and went (empty)
                os.set_blocking(fd, True)
                return _Prefixed(fd, first or b"")
            left = deadline - time.monotonic()  # b"" and no hang-up yet: no writer so far; one may still come
            if left <= 0:
                raise InputError(f"{shown}: a named pipe that nothing writes to (waited {PIPE_WAIT:g} s)")
            hung_up = any(ev & select.POLLHUP for _, ev in poll.poll(min(left, 0.5) * 1000))
    except BaseException:
        os.close(fd)
        raise


class _Prefixed:
    """An fd with bytes already taken from it, read like a binary file (only what read_bytes needs)."""

    def __init__(self, fd: int, head: bytes):
        self.fh = os.fdopen(fd, "rb")
        self.head = head

    def read(self, n: int) -> bytes:
        return self.head + self.fh.read(n - len(self.head))

    def close(self) -> None:
        self.fh.close()


def read_bytes(path: str, shown: str | None = None) -> bytes:
    """The bytes of a file, a pipe or (for "-") standard input, never more than MAX_BYTES: every failure is
    an InputError with a one-line message naming `shown` (default: the path). Devices are refused before
    anything is read; a terminal on standard input is read as typed."""
    shown = shown or path
    if path == "-":
        import sys

        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise InputError("stdin: no standard input to read")
        try:
            fd = stream.fileno()
        except (OSError, ValueError, AttributeError):  # a replaced stdin (tests, embedding): just read it
            fd = None
        if fd is not None:
            try:
                refusal = _kind_refusal(os.fstat(fd).st_mode, "stdin", fd)
            except OSError as exc:
                raise InputError(f"stdin: cannot read ({exc.strerror or exc})") from None
            if refusal:
                raise refusal
        try:
            return _read_bounded(stream, "stdin")
        except OSError as exc:
            raise InputError(f"stdin: cannot read ({exc.strerror or exc})") from None
    if not path or not os.path.exists(path):
        raise InputError(f"{shown}: no such file")
    try:
        mode = os.stat(path).st_mode
        refusal = _kind_refusal(mode, shown)
        if refusal:
            raise refusal
        fh = _open_fifo(path, shown) if stat.S_ISFIFO(mode) else open(path, "rb")
        try:
            if not stat.S_ISFIFO(mode):
                st = os.fstat(fh.fileno())  # the file opened, which may not be the one looked at
                refusal = _kind_refusal(st.st_mode, shown, fh.fileno())
                if refusal:
                    raise refusal
                if stat.S_ISREG(st.st_mode) and st.st_size > MAX_BYTES:
                    raise _limit_error(shown, st.st_size)
            return _read_bounded(fh, shown)
        finally:
            fh.close()
    except PermissionError:
        raise InputError(f"{shown}: permission denied") from None
    except IsADirectoryError:
        raise InputError(f"{shown}: is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"{shown}: cannot read ({exc.strerror or exc})") from None


def read_path(path: str) -> Document:
    """Read a file given by path ("-": standard input); every failure is an InputError with a one-line
    message."""
    return decode(read_bytes(path), "stdin" if path == "-" else path)


def read_text(text: str, name: str = "pasted text") -> Document:
    if len(text) > MAX_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise InputError(f"{name}: over the {MAX_BYTES // (1024 * 1024)} MB limit")
    return _checked(Document(text, "str", name=name))


_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\t\f\v]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")


def normalise(text: str) -> str:
    """The form used for matching: NFC, plain spaces, no zero-width or control characters."""
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)
    text = _CONTROL.sub(" ", _SPACES.sub(" ", text))
    return re.sub(r" {2,}", " ", text).strip()


def clean_display(text: str) -> str:
    """The display form of a sentence: as written, but with line breaks, tabs and control characters
    turned into spaces so that one sentence is one line."""
    text = _CONTROL.sub(" ", normalise_newlines(text).replace("\n", " ").replace("\t", " "))
    return text.strip()
