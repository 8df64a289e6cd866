#!/bin/bash
# Submit a sweep as a SLURM job array of N shards, then a collect job that waits for all of them.
#   scripts/slurm/submit.sh scripts/sweep_slurm_pythia.yaml 8 [extra sbatch flags for the array]
# Compute nodes often have no internet: the hub models are downloaded here first (into the
# Hugging Face cache, HF_HOME, which must be on a file system the compute nodes see), the
# config is validated offline, and the jobs run with HF_HUB_OFFLINE=1.
# Resubmitting some shards by hand keeps the shard count fixed (N, not the size of the subset):
#   sbatch --array=3,5 --export=ALL,SHARDS=8,HF_HUB_OFFLINE=1 scripts/slurm/sweep_array.sbatch CONFIG
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CONFIG=${1:?usage: submit.sh CONFIG.yaml N_SHARDS [sbatch flags]}
SHARDS=${2:?usage: submit.sh CONFIG.yaml N_SHARDS [sbatch flags]}
shift 2
KBIT_SWEEP=${KBIT_SWEEP:-kbit-sweep}
# Download the hub models now, then validate the whole config as the compute nodes will see it
# (offline), here on the login node, not an hour into the queue.
$KBIT_SWEEP fetch "$CONFIG"
HF_HUB_OFFLINE=1 $KBIT_SWEEP run "$CONFIG" --dry-run > /dev/null
OUTPUT=$(python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["output"])' "$CONFIG")
mkdir -p logs
# --parsable prints "jobid" or "jobid;cluster"; a dependency takes the job id alone.
ARRAY=$(sbatch --parsable --array=0-$((SHARDS - 1)) --export=ALL,SHARDS="$SHARDS",HF_HUB_OFFLINE=1 \
    "$@" "$HERE/sweep_array.sbatch" "$CONFIG")
ARRAY=${ARRAY%%;*}
COLLECT=$(sbatch --parsable --dependency=afterany:"$ARRAY" "$HERE/collect.sbatch" "$OUTPUT")
COLLECT=${COLLECT%%;*}
echo "sweep array $ARRAY ($SHARDS shards), collect $COLLECT -> $OUTPUT/results.parquet"
