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


def test_sample_speed_reports_every_row_and_the_targets(capsys):
    load_benchmark("sample_speed").main(["--repeats", "1", "--seconds", "0.01", "--sizes", "gru-8x2-float32,rnn-8x1-float64"])
    out = capsys.readouterr().out
    assert re.search(r"^peer: (PyTorch [\d.]+.*, 1 thread|PyTorch is not importable)", out, re.M), out
    for rows in ("N=1", "N=8", "N=32", "N=128", "beam K=1", "beam K=8"):
        assert re.search(rf" {rows} +[\d,]+", out), out
    assert re.search(r"^rnn-8x1-float64: N=32 makes [\d.]+x the chars/s of N=1 \(target 10x\)", out, re.M), out
    assert re.search(r"^gru-8x2-float32: beam K=8 makes [\d.]+x the chars/s of N=8 sampling", out, re.M), out


def test_serve_load_streams_from_a_real_server(capsys):
    """benchmarks/serve_load.py: a tiny model served on 127.0.0.1, two levels of streaming clients."""
    load_benchmark("serve_load").main(["--quick", "--levels", "1,4"])
    out = capsys.readouterr().out
    for clients in (1, 4):  # requests/s, characters/s, time to the first character, no error, memory
        assert re.search(rf"^ +{clients} +{2 * clients} +[\d.]+ +[\d,]+ +[\d.]+ms +[\d.]+ms +0  [\d.]+, [\d.]+$",
                         out, re.M), out
    assert re.search(r"peak RSS [\d.]+ MB, \d+ log lines, exit code 0", out) and "4 clients: " in out, out


def test_eval_windows_compares_each_window_with_one_stream(text_file, tmp_path, capsys):
    import minrnn
    minrnn.train(text_file, out=tmp_path / "run", iterations=2, quiet=True, cell="rnn", layers=1, hidden=8,
                 batch_size=2, seq_length=8)
    load_benchmark("eval_windows").main([str(tmp_path / "run"), str(text_file), "--windows", "500,1000",
                                         "--warmups", "0,100", "--repeats", "1"])
    out = capsys.readouterr().out
    assert re.search(r"^one stream: \d\.\d{5} nats/char", out, re.M), out
    assert len(re.findall(r"^ +(500|1000) +(0|100) +\d\.\d{5} +[+-]\d\.\d{4}% +[\d,]+$", out, re.M)) == 4, out
