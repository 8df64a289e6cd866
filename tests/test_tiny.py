import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def test_tiny_model_loads_offline_and_runs(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = tok("every wug is a dax", return_tensors="pt").input_ids
    assert tok.decode(ids[0]) == "every wug is a dax"
    logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], len(tok))
    assert torch.isfinite(logits).all()
