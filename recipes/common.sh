# Sourced by the recipes. RUNS: where run folders go (default runs/, ignored by git). A recipe stopped anywhere
# continues where it stopped when run again: `resume DIR` prints --resume once DIR holds a training state.
set -eu
RUNS=${RUNS:-runs}
mkdir -p "$RUNS"
resume() { [ -f "$1/train_state.json" ] && echo --resume || true; }
