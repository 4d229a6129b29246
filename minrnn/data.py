"""Text in, index arrays out: reading and checking files, the vocabulary, streams for batches.

Every "this file can't be used" error lives here, as a MinrnnError whose message names the
file and the problem; the CLI prints it on one line.
"""
import codecs
import os
import sys
from pathlib import Path

import numpy as np

from .errors import MinrnnError, said

CHUNK_BYTES = 1 << 22  # files are decoded 4 MiB at a time, so a large file is never held twice
ENCODE_CHARS = 1 << 20  # characters turned into indices at a time
BUILTIN_CAP = 4_000_000  # characters of Python's standard library used as the built-in corpus


def _decoded_chunks(path, encoding):
    """Yield the file's text in pieces, checking as it goes: the first problem raises a
    MinrnnError naming the file, the problem and, for a decoding error, the byte offset
    (counted from 0, from the start of the file)."""
    path = Path(path)
    if not path.exists():
        raise MinrnnError(f"{path}: no such file")
    if path.is_dir():
        raise MinrnnError(f"{path}: is a directory, not a text file")
    name = codecs.lookup(encoding).name
    utf8 = name in ("utf-8", "utf-8-sig")
    decoder = codecs.getincrementaldecoder("utf-8" if utf8 else encoding)()
    offset = 0  # bytes fed to the decoder so far
    try:
        with open(path, "rb") as f:
            head = b""
            if utf8:  # a byte-order mark is dropped, not read as a character
                head = f.read(3)
                if head == codecs.BOM_UTF8:
                    head, offset = b"", 3
            while True:
                raw = head + f.read(CHUNK_BYTES)
                head = b""
                pending = len(decoder.getstate()[0])  # undecoded bytes left from the last piece
                try:
                    text = decoder.decode(raw, final=not raw)
                except UnicodeDecodeError as e:
                    at = offset - pending + e.start
                    if b"\x00" in raw:
                        raise MinrnnError(f"{path}: not valid {name.removesuffix('-sig')} at byte {at}, and it "
                                          "contains NUL bytes: it looks like binary data, not text") from None
                    raise MinrnnError(
                        f"{path}: not valid {name.removesuffix('-sig')} at byte {at}; "
                        f"if the file uses another encoding, pass it with {said('encoding')} (e.g. "
                        f"{said('encoding', 'latin-1')})"
                    ) from None
                except UnicodeError as e:  # a codec's own complaint, such as UTF-16 without a BOM
                    raise MinrnnError(f"{path}: not valid {name} ({e}); pass the file's encoding with {said('encoding')}"
                                      ) from None
                nul = text.find("\x00")
                if nul >= 0:
                    raise MinrnnError(f"{path}: contains NUL characters, so it looks like binary data, not text")
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


def _encode(chunks, chars=None, name="text", empty="the file is empty"):
    """Two passes over `chunks()` (a function returning an iterator of strings): one to count
    characters and find the vocabulary, one to fill the index array. Returns (ix, chars).

    With `chars` given (a checkpoint's vocabulary) characters outside it are an error that
    counts and lists them. Without, a text of one distinct character is an error: there is
    nothing for a model to learn from it."""
    seen, n = set(), 0
    for text in chunks():
        seen.update(text)
        n += len(text)
    if n == 0:
        raise MinrnnError(f"{name}: {empty}")
    if chars is None:
        if len(seen) < 2:
            raise MinrnnError(f"{name}: has only one distinct character ({next(iter(seen))!r}), "
                              "so there is nothing to learn; use a text with at least two")
        chars = sorted(seen)
    else:
        unknown = sorted(seen - set(chars))
        if unknown:
            raise MinrnnError(
                f"{name}: {len(unknown)} character(s) are not in the model's vocabulary: "
                + " ".join(repr(c) for c in unknown[:20]) + (" ..." if len(unknown) > 20 else "")
            )
    codes = np.array([ord(c) for c in chars], np.int64)
    table = np.zeros(int(codes.max()) + 1, index_dtype(len(chars)))  # code point -> index
    table[codes] = np.arange(len(chars))
    ix = np.empty(n, table.dtype)
    pos = 0
    for text in chunks():
        for i in range(0, len(text), ENCODE_CHARS):  # in slices: a chunk as UTF-32 is 4x its size
            points = np.frombuffer(text[i:i + ENCODE_CHARS].encode("utf-32-le"), np.uint32)
            ix[pos:pos + len(points)] = table[points]
            pos += len(points)
    return ix, chars


def encode(text, chars=None, name="text", empty="the file is empty"):
    """A string as (index array, sorted vocabulary), or indices into a given vocabulary; errors
    name it `name`."""
    return _encode(lambda: iter([text]), chars, name, empty)


def read_corpus(path, encoding="utf-8", chars=None):
    """A text file as (index array, sorted vocabulary). Text is Unicode code points; the file
    is decoded in chunks, so memory holds the index array and one chunk."""
    check_encoding(encoding)
    return _encode(lambda: _decoded_chunks(path, encoding), chars, name=str(path))


def load_corpus(path, encoding="utf-8", chars=None):
    """(indices, vocabulary, name) of a run's text: a file, or the built-in corpus for path ''."""
    if path:
        ix, chars = read_corpus(path, encoding, chars)
        return ix, chars, str(path)
    ix, builtin_chars, name = builtin_corpus()
    if chars is not None and builtin_chars != chars:
        raise MinrnnError(f"the built-in corpus ({name}) does not fit the checkpoint's vocabulary")
    return ix, builtin_chars, name


def file_chunks(path, encoding="utf-8"):
    """A text file as count_unknown and encode_skipping_unknown read it: a function returning an
    iterator of its decoded chunks (they read it more than once)."""
    return lambda: _decoded_chunks(path, encoding)


def count_unknown(chunks, chars):
    """How many characters of a text (`chunks`, as file_chunks returns it) are outside `chars`."""
    known = set(chars)
    return sum(text.count(c) for text in chunks() for c in set(text) - known)


def encode_skipping_unknown(chunks, chars, name, empty="none of its characters are in the model's vocabulary"):
    """Like read_corpus with a fixed vocabulary, dropping the characters outside it."""
    known = set(chars)
    keep = lambda: (text.translate(dict.fromkeys(map(ord, set(text) - known))) for text in chunks())
    return _encode(keep, chars, name=name, empty=empty)


def read_against(chars, file=None, text=None, encoding="utf-8", skip_unknown=False):
    """A text file (or `text`, the text itself) as indices into a model's vocabulary `chars`:
    (indices, characters outside the vocabulary, a name for it). Characters outside it are an
    error that counts them, or with skip_unknown are left out."""
    if (file is None) == (text is None):
        raise MinrnnError("give a text file's path, or the text itself as text=")
    if text is not None:
        chunks, where = (lambda: iter([text])), "text="
    else:
        check_encoding(encoding)
        chunks, where = file_chunks(file, encoding), str(file)
    unknown = count_unknown(chunks, chars)
    if unknown and not skip_unknown:
        raise MinrnnError(f"{where}: {unknown} character(s) are outside the model's vocabulary; "
                          f"pass {said('skip_unknown', True)} to leave them out")
    name = "text" if text is not None else str(file)
    if skip_unknown and text != "":  # an empty text= is empty, not all unknown
        return encode_skipping_unknown(chunks, chars, where)[0], unknown, name
    if text is not None:
        return encode(text, chars, where, "is empty")[0], 0, name
    return read_corpus(file, encoding, chars)[0], 0, name


def builtin_corpus():
    """The running Python's standard-library source: *.py under the stdlib folder in sorted
    order (tests and site-packages left out), up to BUILTIN_CAP characters. Present on every
    machine with Python, so `minrnn train` works with no file at all."""
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
    text = "".join(pieces)
    name = f"python{sys.version_info.major}.{sys.version_info.minor}-stdlib"
    ix, chars = _encode(lambda: iter([text]), name=name)
    return ix, chars, name


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
