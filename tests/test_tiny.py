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


def test_the_family_trains_on_the_tiny_models_llama_recipe():
    """One Llama recipe: the reference family's configs are the tiny Llama's at other sizes."""
    from kbit_tasks.family.presets import get_preset
    from kbit_tasks.tiny import _sample_text, llama_config, train_tokenizer

    tok = train_tokenizer(_sample_text(), vocab_size=300)
    size = get_preset("ci").sizes[0]
    config = llama_config(tok, size.hidden, size.layers, size.heads)
    assert (config.hidden_size, config.intermediate_size, config.num_key_value_heads) == (
        size.hidden, 4 * size.hidden, size.heads)
    assert not config.tie_word_embeddings and config.pad_token_id == tok.pad_token_id
