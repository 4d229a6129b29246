"""Text in, index arrays out: reading and checking files, the vocabulary, streams for batches.

Every "this file can't be used" error lives here, as a MinrnnError whose message names the
file and the problem; the CLI prints it on one line.
"""
import codecs
import dataclasses
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from .errors import MinrnnError, said

CHUNK_BYTES = 1 << 22  # files are decoded 4 MiB at a time, so a large file is never held twice
ENCODE_CHARS = 1 << 20  # characters turned into indices at a time
BUILTIN_CAP = 4_000_000  # characters of Python's standard library used as the built-in corpus


# UTF-16's and UTF-32's byte-order marks, and the codec that reads a file from its mark on (Python's
# utf-16 and utf-32 read the mark and drop it). UTF-32-LE's mark begins with UTF-16-LE's, so it
# comes first. None of them can begin a UTF-8 text, so a file read as UTF-8 that starts with one is
# read in the encoding its mark announces.
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))


def _decoded_chunks(path, encoding):
    """Yield the file's text in pieces, checking as it goes: the first problem raises a
    MinrnnError naming the file, the problem and, for a decoding error, the byte offset
    (counted from 0, from the start of the file). A UTF-8 file's byte-order mark is dropped, and
    a file that begins with UTF-16's or UTF-32's is read in that encoding."""
    path = Path(path)
    if not path.exists():
        raise MinrnnError(f"{path}: no such file")
    if path.is_dir():
        raise MinrnnError(f"{path}: is a directory, not a text file")
    name = codecs.lookup(encoding).name
    offset = 0  # bytes fed to the decoder so far
    try:
        with open(path, "rb") as f:
            head = b""
            if name in ("utf-8", "utf-8-sig"):
                head = f.read(4)
                name = next((codec for bom, codec in BOMS if head.startswith(bom)), "utf-8")
                if head.startswith(codecs.BOM_UTF8):  # dropped, not read as a character
                    head, offset = head[3:], 3
            decoder = codecs.getincrementaldecoder(name)()
            while True:
                raw = head + f.read(CHUNK_BYTES)
                head = b""
                pending = len(decoder.getstate()[0])  # undecoded bytes left from the last piece
                try:
                    text = decoder.decode(raw, final=not raw)
                except UnicodeDecodeError as e:
                    at = offset - pending + e.start
                    if b"\x00" in raw and name == "utf-8":
                        raise MinrnnError(f"{path}: not valid utf-8 at byte {at}, and it "
                                          "contains NUL bytes: it looks like binary data, not text") from None
                    raise MinrnnError(
                        f"{path}: not valid {name} at byte {at}; "
                        f"if the file uses another encoding, pass it with {said('encoding')} (e.g. "
                        f"{said('encoding', 'latin-1')})"
                    ) from None
                except UnicodeError as e:  # a codec's own complaint, such as UTF-16 without a BOM
                    raise MinrnnError(f"{path}: not valid {name} ({e}); pass the file's encoding with {said('encoding')}"
                                      ) from None
                if "\x00" in text:
                    utf16 = name == "utf-8" and _utf16_order(raw)
                    raise MinrnnError(f"{path}: contains NUL characters, " + (
                        f"as UTF-16 without a byte-order mark does: pass {said('encoding', utf16)}" if utf16 else
                        "so it looks like binary data, not text"))
                if text:
                    yield text
                if not raw:
                    return
                offset += len(raw)
    except PermissionError:
        raise MinrnnError(f"{path}: cannot read it (permission denied)") from None
    except IsADirectoryError:
        raise MinrnnError(f"{path}: is a directory, not a text file") from None
    except OSError as e:
        raise MinrnnError(f"{path}: cannot read it ({e.strerror or e})") from None


def _utf16_order(raw):
    """'utf-16-le' or 'utf-16-be' when bytes look like UTF-16 text without a byte-order mark (a zero
    byte in nearly every other place, as ASCII text in UTF-16 has), else None."""
    head = raw[:4096]
    for order, zeros in (("utf-16-le", head[1::2]), ("utf-16-be", head[0::2])):
        if len(zeros) >= 8 and zeros.count(0) >= 0.9 * len(zeros):
            return order
    return None


def encoding_problem(encoding):
    """Why a text cannot be decoded with `encoding`, or None: Python does not know it, or it is a
    bytes-to-bytes codec such as base64 or rot13 (what str.encode and bytes.decode check)."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError, ValueError):
        return "is an unknown encoding"
    if not getattr(info, "_is_text_encoding", True):
        return "is not a text encoding"
    return None


def check_encoding(encoding):
    why = encoding_problem(encoding)
    if why:
        raise MinrnnError(f"{encoding!r} {why}")


def index_dtype(vocab_size):
    """The smallest unsigned integer type that holds every index."""
    return np.min_scalar_type(max(vocab_size - 1, 0))


def text_files(paths):
    """The files that `paths` (files and folders, in the order given) stand for: a folder, every
    file below it in sorted order, hidden ones (a name starting with ".") and those in hidden
    folders left out. A path that is neither is kept, for reading it to say what it is."""
    files = []
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(path)
            continue
        inside = sorted(f for f in path.rglob("*")
                        if not any(part.startswith(".") for part in f.relative_to(path).parts) and f.is_file())
        if not inside:
            raise MinrnnError(f"{path}: a folder with no files in it (hidden ones left out)")
        files += inside
    return files


def _named(paths, files, shown=3):
    """Files in a few words: 'a.txt'; 'books (12 files)'; 'a.txt, b.txt, c.txt and 2 more (5 files)'."""
    if len(paths) == 1 and len(files) == 1:
        return str(files[0])
    listed = ", ".join(map(str, paths[:shown])) + (f" and {len(paths) - shown} more" if len(paths) > shown else "")
    return f"{listed} ({len(files)} files)"


def counted(counts, shown=8):
    """Characters outside a vocabulary ({character: count}) as a message says them: how many in
    all, then each, escaped, with its count, most frequent first: `3 characters ('\\r' 2, 'é' 1)`."""
    total = sum(counts.values())
    common = sorted(counts, key=lambda c: (-counts[c], c))
    each = [f"{c!r} {counts[c]:,}" for c in common[:shown]]
    more = f" and {len(common) - shown} more" if len(common) > shown else ""
    return f"{total:,} character{'' if total == 1 else 's'} ({', '.join(each)}{more})"


@dataclasses.dataclass
class Text:
    """A text to read, files one after another or a string, after a first pass over it (its
    length, the characters it holds); `encode` reads it again, into indices. Two passes, so that
    memory holds the index array and one piece of the text, never the text whole."""
    name: str  # what the display calls it
    where: str  # what an error names: the file(s), or "text=" for a string
    pieces: object  # () -> an iterator over its decoded pieces, in order
    files: list  # the files read, in order; [] for a string
    length: int
    seen: set

    def unknown(self, chars):
        """{character: count} of its characters outside `chars`."""
        outside = self.seen - set(chars)
        counts = dict.fromkeys(outside, 0)
        if outside:
            for piece in self.pieces():
                for c in outside.intersection(piece):
                    counts[c] += piece.count(c)
        return counts

    def encode(self, chars=None, skip_unknown=False):
        """(indices, vocabulary, unknown): the text as indices into `chars`, by default its own
        sorted characters (at least two, or there is nothing to learn); characters outside a
        given `chars` ({character: count}) are an error that counts and names them or, with
        skip_unknown, are left out."""
        unknown = {}
        if chars is None:
            if len(self.seen) < 2:
                raise MinrnnError(f"{self.where}: has only one distinct character ({next(iter(self.seen))!r}), "
                                  "so there is nothing to learn; use a text with at least two")
            chars = sorted(self.seen)
        else:
            unknown = self.unknown(chars)
            if unknown and not skip_unknown:
                raise MinrnnError(f"{self.where}: {counted(unknown)} outside the model's vocabulary; pass "
                                  f"{said('skip_unknown', True)} to leave them out"
                                  + ("; '\\r' comes from Windows line endings" if "\r" in unknown else ""))
        pieces, n = self.pieces, self.length - sum(unknown.values())
        if unknown:
            if n == 0:
                raise MinrnnError(f"{self.where}: none of its characters are in the model's vocabulary")
            drop = dict.fromkeys(map(ord, unknown))
            pieces = lambda: (piece.translate(drop) for piece in self.pieces())  # noqa: E731
        codes = np.array([ord(c) for c in chars], np.int64)
        table = np.zeros(int(codes.max()) + 1, index_dtype(len(chars)))  # code point -> index
        table[codes] = np.arange(len(chars))
        ix = np.empty(n, table.dtype)
        pos = 0
        for piece in pieces():
            for i in range(0, len(piece), ENCODE_CHARS):  # in slices: a piece as UTF-32 is 4x its size
                points = np.frombuffer(piece[i:i + ENCODE_CHARS].encode("utf-32-le"), np.uint32)
                ix[pos:pos + len(points)] = table[points]
                pos += len(points)
        return ix, chars, unknown


def open_text(files=None, text=None, encoding="utf-8", name=None):
    """A Text of `files`, read one after another in `encoding`, or of the string `text`; `name`:
    what to call it (default: the file, the files in a few words, or "text="). Its first pass
    reads it whole, so that a problem with any file is found here, as a MinrnnError naming it."""
    if text is not None:
        pieces, files, where, empty = (lambda: iter([text])), [], name or "text=", "is empty"
        if "\x00" in text:
            raise MinrnnError("text=: contains NUL characters, so it looks like binary data, not text")
    else:
        check_encoding(encoding)
        files = [Path(f) for f in files]
        where = name or _named(files, files)
        pieces = lambda: (piece for f in files for piece in _decoded_chunks(f, encoding))  # noqa: E731
        empty = "the file is empty" if len(files) == 1 else "the files are empty"
    seen, n = set(), 0
    for piece in pieces():
        seen.update(piece)
        n += len(piece)
    if n == 0:
        raise MinrnnError(f"{where}: {empty}")
    return Text("text" if text is not None and name is None else where, where, pieces, files, n, seen)


def encode(text, chars=None):
    """A string as (index array, sorted vocabulary), or as indices into a given vocabulary."""
    return open_text(text=text).encode(chars)[:2]


def read_corpus(path, encoding="utf-8", chars=None):
    """A text file as (index array, sorted vocabulary), or as indices into a given vocabulary."""
    return open_text([path], encoding=encoding).encode(chars)[:2]


def corpus_text(paths, encoding="utf-8"):
    """A run's text as a Text: its files and folders (text_files), or with none the built-in corpus."""
    if not paths:
        return builtin_text()
    files = text_files(paths)
    return open_text(files, encoding=encoding, name=_named(list(paths), files))


def read_against(chars, file=None, text=None, encoding="utf-8", skip_unknown=False):
    """A text file (or `text`, the text itself) as indices into a model's vocabulary `chars`:
    (indices, how many characters were outside the vocabulary, a name for it). Characters
    outside it are an error that counts them, or with skip_unknown are left out."""
    if (file is None) == (text is None):
        raise MinrnnError("give a text file's path, or the text itself as text=")
    read = open_text(None if file is None else [file], text, encoding)
    ix, _, unknown = read.encode(chars, skip_unknown)
    return ix, sum(unknown.values()), read.name


def fingerprint(ix):
    """What a run remembers of its text, so that a resumed run can tell it is the same: its
    length and a SHA-256 of it as indices into the run's vocabulary (so that the run's own
    reading, with its encoding and the characters it left out, is what is compared)."""
    digest = hashlib.sha256()
    for i in range(0, len(ix), ENCODE_CHARS):
        digest.update(np.ascontiguousarray(ix[i:i + ENCODE_CHARS], ix.dtype.newbyteorder("<")).tobytes())
    return {"characters": int(len(ix)), "sha256": digest.hexdigest()}


def builtin_text():
    """The running Python's standard-library source, as a Text: *.py under the stdlib folder in
    sorted order (tests and site-packages left out), up to BUILTIN_CAP characters. Present on
    every machine with Python, so `minrnn train` works with no file at all."""
    root = Path(os.__file__).parent
    pieces, size = [], 0
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if "site-packages" in rel or "test" in rel or "tests" in rel or "idlelib" in rel:
            continue
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "\x00" in text:
            continue
        pieces.append(text[:BUILTIN_CAP - size])
        size += len(pieces[-1])
        if size >= BUILTIN_CAP:
            break
    return open_text(text="".join(pieces), name=f"python{sys.version_info.major}.{sys.version_info.minor}-stdlib")


def builtin_corpus():
    """The built-in corpus as (indices, vocabulary, name)."""
    text = builtin_text()
    return (*text.encode()[:2], text.name)


def decode(ix, chars):
    return "".join(chars[i] for i in ix)


def split(ix, val_frac):
    """Train on the first part, validate on the last val_frac of the text (contiguous)."""
    n_val = int(len(ix) * val_frac)
    return ix[:len(ix) - n_val], ix[len(ix) - n_val:]


def streams(ix, batch_size):
    """char-rnn's layout: the text cut into batch_size contiguous streams, as (B, L) views of
    inputs and of their targets (the next character). Column j of both is one time step."""
    L = (len(ix) - 1) // batch_size
    return ix[:batch_size * L].reshape(batch_size, L), ix[1:batch_size * L + 1].reshape(batch_size, L)


def chunks(inputs, targets, seq_length):
    """(T, B) input and target chunks along the streams, in order; the last may be shorter."""
    for p in range(0, inputs.shape[1], seq_length):
        yield inputs[:, p:p + seq_length].T, targets[:, p:p + seq_length].T
