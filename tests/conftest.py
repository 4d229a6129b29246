import pytest

from support import make_text


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text(make_text(20_000), encoding="utf-8")
    return path
