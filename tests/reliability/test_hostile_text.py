"""Broken text files: one-line errors naming the problem, for classic, train and eval alike;
a byte-order mark and Windows line endings are handled, not errors."""
import codecs
import os

import pytest

from support import make_text
from minrnn import data
from minrnn.data import MinrnnError

from .helpers import TINY, assert_argparse_error, assert_clean_error, main, run, write_text


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A tiny trained checkpoint whose vocabulary holds the letters of helpers.text() and 'x'."""
    d = tmp_path_factory.mktemp("ckpt")
    corpus = d / "t.txt"
    corpus.write_text(make_text(3000) + "x\r\n\ufeff")
    r = run("train", corpus, "--out", d / "run", *TINY, "--iterations", 3, "--quiet")
    assert r.returncode == 0, r.stderr
    return d / "run" / "latest.npz"


def commands(path, ckpt, tmp_path):
    return {
        "classic": ["classic", path, "--hidden", 8, "--seq-length", 8, "--iterations", 2],
        "train": ["train", path, "--out", tmp_path / "out", *TINY, "--iterations", 2, "--quiet"],
        "eval": ["eval", ckpt, path],
    }


BAD = {  # name: (file content, words the error must contain, per command or for all)
    "missing": (None, {"all": ["no such file"]}),
    "directory": ("DIR", {"classic": ["is a directory"], "eval": ["is a directory"],
                          "train": ["a folder with no files in it"]}),  # train reads a folder's files
    "empty": (b"", {"all": ["empty"]}),
    "too-short": (b"a", {"classic": ["one distinct"], "train": ["one distinct"], "eval": ["at least 2"]}),
    "short-two-chars": (b"ab", {"classic": ["fewer than", "--seq-length"], "train": ["too short"],
                                "eval": None}),
    "one-distinct-char": (b"x" * 5000, {"classic": ["one distinct character"], "train": ["one distinct character"],
                                        "eval": None}),
    "invalid-utf8": (("the fox " * 100).encode() + b"\xc3\x28 more", {"all": ["not valid utf-8 at byte 800", "--encoding"]}),
    "truncated-utf8-at-end": (("the fox " * 100).encode() + b"\xe2\x82", {"all": ["not valid utf-8 at byte 800"]}),
    "binary-nul": (b"the fox\x00\x01\x02" * 100, {"all": ["binary"]}),
    "binary-random": (bytes(range(256)) * 20, {"all": ["binary"]}),
    "bom-then-invalid": (codecs.BOM_UTF8 + b"abc\xff", {"all": ["at byte 6"]}),
}


@pytest.mark.parametrize("command", ["classic", "train", "eval"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_text(tmp_path, capsys, ckpt, case, command):
    content, expected = BAD[case]
    path = tmp_path / "input.txt"
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    words = expected.get("all", expected.get(command, []))
    code, out, err = main(capsys, *commands(path, ckpt, tmp_path)[command])
    if words is None:  # fine for this command (eval of a text whose characters the model knows)
        assert code == 0, err
        return
    assert_clean_error(code, err, *words)
    assert out == ""


def test_unreadable_file(tmp_path, capsys, ckpt, monkeypatch):
    path = write_text(tmp_path / "secret.txt")
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads anything: let open() refuse as the kernel would for anyone else
        def refusing_open(p, *a, **k):
            raise PermissionError(13, "Permission denied", str(p))
        monkeypatch.setattr(data, "open", refusing_open, raising=False)
    for command in commands(path, ckpt, tmp_path).values():
        code, _, err = main(capsys, *command)
        assert_clean_error(code, err, str(path), "permission denied")


def test_bom_is_not_part_of_the_vocabulary(tmp_path, capsys):
    path = tmp_path / "bom.txt"
    path.write_bytes(codecs.BOM_UTF8 + make_text(3000).encode())
    ix, chars = data.read_corpus(path)
    assert "\ufeff" not in chars and len(ix) == 3000
    assert data.decode(ix[:20], chars) == make_text(20)
    code, _, err = main(capsys, "train", path, "--out", tmp_path / "o", *TINY, "--iterations", 2, "--quiet")
    assert code == 0, err
    code, _, err = main(capsys, "classic", path, "--hidden", 8, "--seq-length", 8, "--iterations", 2)
    assert code == 0, err
    # a BOM-encoded UTF-16 file works with --encoding utf-16
    path16 = tmp_path / "u16.txt"
    path16.write_bytes(make_text(3000).encode("utf-16"))
    ix16, chars16 = data.read_corpus(path16, "utf-16")
    assert chars16 == chars and (ix16 == ix).all()


def test_windows_line_endings_are_kept(tmp_path, capsys):
    path = tmp_path / "crlf.txt"
    body = make_text(3000).replace("\n", "\r\n")
    path.write_bytes(body.encode())
    ix, chars = data.read_corpus(path)
    assert "\r" in chars and len(ix) == len(body)
    assert data.decode(ix, chars) == body
    code, _, err = main(capsys, "train", path, "--out", tmp_path / "o", *TINY, "--iterations", 2, "--quiet")
    assert code == 0, err


def test_invalid_utf8_offset_across_chunk_boundaries(tmp_path, monkeypatch):
    """With tiny chunks, a multi-byte character split between chunks decodes, and the offset
    of a bad byte is still exact."""
    body = ("héllo wörld €uro 𝄞 " * 50).encode()
    for chunk in (1, 2, 3, 5, 7, 4096):
        monkeypatch.setattr(data, "CHUNK_BYTES", chunk)
        good = tmp_path / "good.txt"
        good.write_bytes(codecs.BOM_UTF8 + body)
        ix, chars = data.read_corpus(good)
        assert data.decode(ix, chars) == body.decode()
        for at in (0, 1, 17, len(body) - 1):
            bad = tmp_path / "bad.txt"
            raw = body[:at] + b"\xff" + body[at:]
            try:
                raw.decode()
            except UnicodeDecodeError as e:
                expected = e.start
            bad.write_bytes(raw)
            with pytest.raises(MinrnnError, match=f"at byte {expected};"):
                data.read_corpus(bad)


def test_encodings(tmp_path, capsys):
    path = write_text(tmp_path / "t.txt")
    for enc, words in (("no-such-codec", ["unknown encoding"]), ("base64", ["not a text encoding"]),
                       ("rot13", ["not a text encoding"])):
        for command in (["classic", path, "--encoding", enc],
                        ["train", path, "--encoding", enc, "--out", tmp_path / "o"],
                        ["eval", tmp_path / "nothing.npz", path, "--encoding", enc]):
            code, _, err = main(capsys, *command)
            assert_argparse_error(code, err, "--encoding", *words)  # an option: judged as argparse parses it
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café crème ".encode("latin-1") * 300)
    code, _, err = main(capsys, "train", latin, "--out", tmp_path / "o2", *TINY, "--iterations", 2, "--quiet")
    assert_clean_error(code, err, "not valid utf-8 at byte 3", "--encoding")
    code, _, err = main(capsys, "train", latin, "--encoding", "latin-1", "--out", tmp_path / "o2", *TINY,
                        "--iterations", 2, "--quiet")
    assert code == 0, err


def test_eval_skip_unknown_with_nothing_known(tmp_path, capsys, ckpt):
    path = tmp_path / "greek.txt"
    path.write_text("αβγδ" * 50)
    code, _, err = main(capsys, "eval", ckpt, path)
    assert_clean_error(code, err, "outside the model's vocabulary", "--skip-unknown")
    code, _, err = main(capsys, "eval", ckpt, path, "--skip-unknown")
    assert_clean_error(code, err, "vocabulary")
    assert "empty" not in err
