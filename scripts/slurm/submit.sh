#!/bin/bash
# Submit a sweep as a SLURM job array of N shards, then a collect job that waits for all of them.
#   scripts/slurm/submit.sh scripts/sweep_slurm_pythia.yaml 8 [extra sbatch flags for the array]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CONFIG=${1:?usage: submit.sh CONFIG.yaml N_SHARDS [sbatch flags]}
SHARDS=${2:?usage: submit.sh CONFIG.yaml N_SHARDS [sbatch flags]}
shift 2
# Validate the whole config now, on the login node, not an hour into the queue.
kbit-sweep run "$CONFIG" --dry-run > /dev/null
OUTPUT=$(python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["output"])' "$CONFIG")
mkdir -p logs
ARRAY=$(sbatch --parsable --array=0-$((SHARDS - 1)) "$@" "$HERE/sweep_array.sbatch" "$CONFIG")
COLLECT=$(sbatch --parsable --dependency=afterany:"$ARRAY" "$HERE/collect.sbatch" "$OUTPUT")
echo "sweep array $ARRAY ($SHARDS shards), collect $COLLECT -> $OUTPUT/results.parquet"
