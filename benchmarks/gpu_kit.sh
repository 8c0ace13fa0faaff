#!/usr/bin/env bash
# Builds .kit/ (git-ignored, under the 64 MiB that travels with the tree) for the GPU check that
# benchmarks/gpu_check.sh runs on a lent GPU machine, which has Python 3.12, torch and accelerate
# but no network, no captum, an older transformers and no bundled model:
#   .kit/whl/          wheels of the pinned transformers, captum and regex for CPython 3.12
#   .kit/sst2/         SST-2 train (gzipped) and dev, from ../shared/data/sst2
#   .kit/minilm-fp16/  the bundled all-MiniLM-L6-v2 with its weights rounded to fp16 (relative
#                      rounding at most 4.8e-4), restored to fp32 there
# Run from the repository root with the project's virtual environment active:
#   bash benchmarks/gpu_kit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SST2=${SST2:-../shared/data/sst2}
grep -qx '/.kit/' .git/info/exclude 2>/dev/null || echo /.kit/ >> .git/info/exclude
rm -rf .kit && mkdir -p .kit/whl .kit/sst2
pip_version() { grep -i "^$1==" requirements.txt | cut -d= -f3; }
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 -d .kit/whl \
    "transformers==$(pip_version transformers)" "captum==$(pip_version captum)" \
    "regex==$(python3 -c 'import importlib.metadata as m; print(m.version("regex"))')"
gzip -9 -c "$SST2/train.csv" > .kit/sst2/train.csv.gz
cp "$SST2/dev.csv" .kit/sst2/
python3 - <<'PY'
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

from bertviz_lib.backbones import bundled_path

source, kit = bundled_path(), Path(".kit/minilm-fp16")
shutil.copytree(source, kit, ignore=shutil.ignore_patterns("model.safetensors", "README.md"))
weights = load_file(source / "model.safetensors")
save_file({name: tensor.half() for name, tensor in weights.items()}, kit / "model.safetensors")
PY
du -sh .kit
