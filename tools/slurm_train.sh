#!/usr/bin/env bash
# Training on SLURM: one task per GPU, started by srun; rank/world size come from SLURM_* and
# tools/train.py --launcher slurm.
#   [GPUS=16 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS="..."] \
#       tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# On preemption SLURM sends SIGTERM; PreemptionCheckpointHook saves the current iteration and
# exits 0. Ask for the signal early enough for one iteration plus a checkpoint write, e.g.
# SRUN_ARGS="--signal=TERM@120", and requeue with `--resume`.
set -euo pipefail

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PY_ARGS=("${@:5}")

cd "$(dirname "$0")/.."
# shellcheck disable=SC2086  # SRUN_ARGS is a list of options
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    python -u tools/train.py "$CONFIG" --work-dir="$WORK_DIR" --launcher slurm "${PY_ARGS[@]}"
