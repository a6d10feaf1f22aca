"""Non-finite values are never stored or exported without a word."""
import numpy as np

from core.hyperrep.workspace import load_workspace
from tests.cli import run


def test_embed_refuses_nan_embeddings(fws, capsys):
    ws = load_workspace(fws)
    name = next(k for k, v in ws.ae_tensors.items() if k.startswith("encoder.") and k.endswith("qkv.weight"))
    ws.ae_tensors[name] = np.full_like(ws.ae_tensors[name], np.nan)
    ws.save()
    before = fws.read_bytes()
    code, _, err = run(capsys, "embed", fws, "--device", "cpu", "-q")
    assert code == 2 and err.count("\n") == 1, err
    assert "model states embed to NaN or infinite values (its autoencoder holds" in err and "nothing stored" in err
    assert fws.read_bytes() == before


def test_export_refuses_nan_weights(fws, tmp_path, capsys):
    ws = load_workspace(fws)
    run_id = sorted(ws.samples)[0]
    ws.samples[run_id]["arrays"]["weights"][2, :4] = np.nan
    ws.save()
    code, _, err = run(capsys, "export", fws, "--samples", run_id, "--out", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1, err
    assert f"model(s) hold NaN or infinite weights: {run_id}:2 (4 of " in err and "nothing exported" in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
