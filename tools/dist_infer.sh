#!/usr/bin/env bash
# Many scene pairs on several processes (whole scenes per process):
# tools/dist_infer.sh CONFIG CHECKPOINT NUM_PROCESSES --scenes LIST --out DIR
#     [dist_infer.py options]
# NNODES, NODE_RANK, MASTER_ADDR and PORT may be set in the environment.
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
torchrun \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/dist_infer.py" \
    "$CONFIG" "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
