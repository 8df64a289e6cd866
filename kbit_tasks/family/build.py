"""Build a whole family into one folder, cached and resumable.

Layout of `out/`: `tokenizer/`, one Hugging Face folder per size (`d64-l2/`:
config, safetensors, tokenizer, `family.json`), and `manifest.json`, written
last. Every folder is written under a temporary name and renamed into place, so
a killed build never leaves a half model that looks finished; the next build
keeps the finished sizes and trains the rest. A complete `manifest.json` whose
recipe fingerprint matches is a cache hit and returns at once.
"""
from __future__ import annotations

from pathlib import Path

from kbit_tasks.atomic import atomic_folder, atomic_write_json, read_json
from kbit_tasks.family.presets import Preset, get_preset

MANIFEST = "manifest.json"
MEMBER_FILE = "family.json"


def cached_manifest(preset: Preset, out: Path) -> dict | None:
    """The manifest if `out` holds this exact recipe's finished family, else None."""
    manifest = read_json(out / MANIFEST)
    if not manifest or manifest.get("fingerprint") != preset.fingerprint():
        return None
    if not all((out / m["name"] / MEMBER_FILE).exists() for m in manifest["models"]):
        return None
    return manifest


def _tokenizer(preset: Preset, docs: list[str], out: Path):
    """The family's one tokenizer: reused from `out/tokenizer` when this recipe made it."""
    from transformers import AutoTokenizer

    from kbit_tasks.tiny import train_tokenizer

    tok_dir = out / "tokenizer"
    stamp = read_json(tok_dir / MEMBER_FILE)
    if stamp and stamp.get("fingerprint") == preset.fingerprint():
        return AutoTokenizer.from_pretrained(tok_dir)
    tok = train_tokenizer(docs, vocab_size=preset.vocab_size)
    with atomic_folder(tok_dir) as tmp:
        tok.save_pretrained(tmp)
        atomic_write_json(tmp / MEMBER_FILE, {"fingerprint": preset.fingerprint()}, indent=2)
    return tok


def build_family(preset: str | Preset, out_dir: str | Path, progress: bool = True,
                 only: list[str] | None = None) -> dict | None:
    """Train (or reuse) every size of `preset` under `out_dir`; return the manifest.

    `only` trains just the named sizes (one process or machine per size, say) and returns
    None; a later full build reuses them and writes the manifest.
    """
    preset = get_preset(preset) if isinstance(preset, str) else preset
    names = [s.name for s in preset.sizes]
    bad = sorted(set(only or ()) - set(names))
    if bad:
        raise ValueError(f"sizes {bad} are not in preset {preset.name!r}; choose from {names}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out={str(out)!r} is a file; give a folder for the family")
    out.mkdir(parents=True, exist_ok=True)
    hit = cached_manifest(preset, out)
    if hit:
        return hit
    import torch  # only now: a cache hit should not pay for importing torch and transformers

    from kbit_tasks.family.corpus import build_corpus, corpus_hash
    from kbit_tasks.family.train import batch_order, encode, train_model

    docs = build_corpus(preset)
    tokenizer = _tokenizer(preset, [q + a for q, a in docs], out)
    data = encode(docs, tokenizer)
    order = batch_order(len(data), preset)
    fingerprint = preset.fingerprint()
    members = []
    for size in preset.sizes:
        if only and size.name not in only:
            continue
        final = out / size.name
        done = read_json(final / MEMBER_FILE)
        if done and done.get("fingerprint") == fingerprint:
            members.append(done["model"])
            continue
        model, entry = train_model(size, data, order, tokenizer, preset, progress=progress)
        with atomic_folder(final) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            atomic_write_json(tmp / MEMBER_FILE, {"fingerprint": fingerprint, "model": entry}, indent=2)
        members.append(entry)
        if progress:
            print(f"{size.name}: {entry['params']:,} params, loss {entry['final_loss']:.3f}, "
                  f"{entry['seconds']:.0f} s", flush=True)
    if only:
        return None

    manifest = {
        "preset": preset.name, "fingerprint": fingerprint,
        "recipe": {k: v for k, v in vars(preset).items() if k != "sizes"} | {
            "items_per_task": dict(preset.items_per_task)},
        "answers_per_model": preset.answers_per_model,
        "corpus": {"documents": len(docs), "tokens": sum(len(q) + len(a) for q, a in data),
                   "sha256": corpus_hash(docs)},
        "torch_threads": torch.get_num_threads(),
        "models": [{**m, "path": m["name"]} for m in members],
    }
    atomic_write_json(out / MANIFEST, manifest, indent=2)
    return manifest
