"""The speed benchmarks run end to end on a small text (a smoke test: the figures themselves are
measured by running the scripts, never asserted here)."""
import re

from support import load_benchmark


def test_classic_speed_reports_both_settings_and_the_floor(text_file, capsys):
    load_benchmark("classic_speed").main(["--text", str(text_file), "--iterations", "3", "--repeats", "1"])
    out = capsys.readouterr().out
    for setting in ("sampling", "no sampling"):
        assert re.search(rf"^{setting} +[\d,]+ +[\d,]+ +[\d.]+x", out, re.M), out
    floor = re.search(r"(\d+) us together: no NumPy version .* exceeds ([\d.]+)x", out)
    assert floor and int(floor[1]) > 0 and float(floor[2]) > 0, out
