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


def test_train_speed_runs_the_trainer_s_step_over_its_shards(text_file, capsys):
    load_benchmark("train_speed").main(["--text", str(text_file), "--no-torch", "--quick", "--repeats", "1",
                                        "--seconds", "0.01", "--configs", "gru-16x2-32x8,rnn-8x1-1x8"])
    out = capsys.readouterr().out
    assert re.search(r"^gru-16x2-32x8 +2x\d +[\d,]+", out, re.M), out  # 32 streams: 2 shards by default
    assert re.search(r"^rnn-8x1-1x8 +1x1 +[\d,]+", out, re.M), out


def test_eval_windows_compares_each_window_with_one_stream(text_file, tmp_path, capsys):
    import minrnn
    minrnn.train(text_file, out=tmp_path / "run", iterations=2, quiet=True, cell="rnn", layers=1, hidden=8,
                 batch_size=2, seq_length=8)
    load_benchmark("eval_windows").main([str(tmp_path / "run"), str(text_file), "--windows", "500,1000",
                                         "--warmups", "0,100", "--repeats", "1"])
    out = capsys.readouterr().out
    assert re.search(r"^one stream: \d\.\d{5} nats/char", out, re.M), out
    assert len(re.findall(r"^ +(500|1000) +(0|100) +\d\.\d{5} +[+-]\d\.\d{4}% +[\d,]+$", out, re.M)) == 4, out
