"""Where kbit-hf keeps unquantized weights, and its refusal to quantize offloaded models."""
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from kbit_tasks.model import KbitHFLM
from kbit_tasks.quant import QuantConfig, pristine_weights
from kbit_tasks.quant.pristine import safetensors_files


def _weights_after(lm, bits):
    lm.requantize(QuantConfig(bits=bits, quant_type="nf", blocksize=64))
    return {n: p.detach().clone() for n, p in lm.model.named_parameters()}


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_llama_dir"])
def test_file_backed_pristine_equals_a_cpu_copy_and_holds_no_host_copy(fixture, request):
    folder = request.getfixturevalue(fixture)
    lms = {where: KbitHFLM(pretrained=str(folder), pristine=where, device="cpu", dtype="bfloat16",
                           compute_dtype="float32") for where in ("file", "cpu")}
    assert lms["file"]._pristine.describe() | {"host_bytes": 0} == lms["file"]._pristine.describe()
    assert lms["file"]._pristine.describe()["copied"] == 0 and lms["cpu"]._pristine.host_bytes() > 0
    for bits in (3, 16, 5):  # 16 restores the loaded bf16 values bit for bit, then quantize again
        got = {where: _weights_after(lm, bits) for where, lm in lms.items()}
        assert all(torch.equal(got["file"][n], got["cpu"][n]) for n in got["cpu"])
    assert lms["file"].get_model_info()["pristine"]["where"] == "file"


def test_a_key_that_does_not_read_back_equal_is_copied_instead(tiny_llama_dir, tmp_path):
    folder = tmp_path / "edited"
    shutil.copytree(tiny_llama_dir, folder)
    tensors = load_file(folder / "model.safetensors")
    name = "model.layers.0.mlp.up_proj.weight"
    tensors[name] = tensors[name] + 1  # the file no longer holds what was loaded for this weight
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    model.config._name_or_path = str(folder)
    pristine = pristine_weights(model, "auto")
    assert pristine.describe()["copied"] == 1 and torch.equal(pristine[name], model.get_parameter(name))
    assert torch.equal(pristine["model.layers.1.mlp.up_proj.weight"],
                       model.get_parameter("model.layers.1.mlp.up_proj.weight"))


def test_a_hub_id_is_read_from_the_local_cache_offline(tiny_model_dir, tmp_path, monkeypatch):
    """Users pass hub ids: the files are found in the hub cache layout, without the network."""
    snapshot = tmp_path / "hub" / "models--someone--tiny" / "snapshots" / ("a" * 40)
    shutil.copytree(tiny_model_dir, snapshot)
    (tmp_path / "hub" / "models--someone--tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--someone--tiny" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert safetensors_files("someone/tiny") == [snapshot / "model.safetensors"]
    assert safetensors_files("someone/not-cached") == []


def test_device_pristine_needs_a_gpu(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    with pytest.raises(ValueError, match="pristine=device needs the weights on a GPU"):
        pristine_weights(model, "device")
    with pytest.raises(ValueError, match=r"pristine='ram' is not valid; choose one of \('auto'"):
        pristine_weights(model, "ram")


def test_a_model_that_would_be_offloaded_is_refused_before_loading(tiny_llama_dir, monkeypatch):
    """transformers offloads what does not fit to disk without an error (HFLM passes an offload
    folder); kbit-hf decides the device map itself and refuses before any weight loads."""
    monkeypatch.setenv("WORLD_SIZE", "1")  # HFLM honours parallelize only in a "distributed" setting
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    from transformers import AutoModelForCausalLM

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained",
                        lambda *a, **k: pytest.fail("weights were loaded before the refusal"))
    with pytest.raises(ValueError, match=r"does not fit in max_memory=\{'cpu': 100000\}.*offload \d+ modules to disk"):
        KbitHFLM(pretrained=str(tiny_llama_dir), parallelize=True, max_cpu_memory="100KB")


def test_weights_left_on_the_meta_device_are_refused(tiny_llama_dir):
    from kbit_tasks.model import _refuse_offloaded
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(tiny_llama_dir))
    with pytest.raises(ValueError, match="were offloaded by accelerate, not loaded"):
        _refuse_offloaded(model)


def test_the_device_map_is_sized_in_the_dtype_the_model_loads_in(tiny_llama_dir):
    """A bf16 model needs half the room of its float32 checkpoint (about 0.35 vs 0.7 MB here)."""
    from kbit_tasks.model import device_map_in_memory
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_llama_dir)
    assert device_map_in_memory(config, {"cpu": 500_000}, "bfloat16") == {"": "cpu"}
    with pytest.raises(ValueError, match=r"MiB in torch.float32\) does not fit in max_memory=\{'cpu': 500000\}"):
        device_map_in_memory(config, {"cpu": 500_000}, "float32")
