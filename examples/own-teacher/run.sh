#!/usr/bin/env bash
# The worked example of docs/RESULTS.md ("Your teacher, your data"): a Keras CNN trained outside
# chrysalis on a folder of 32×32 RGB images, imported as a SavedModel and distilled into a small CNN and
# an MLP, through `./chrysalis run distill --config` and through `temporal workflow start`.
#   bash examples/own-teacher/run.sh            full size: 6,000 + 1,000 images per class, 10 teacher epochs, 12 student epochs
#   bash examples/own-teacher/run.sh --small    CI size: 60 + 20 per class, 2 teacher and 10 student epochs
# Needs the dev stack up (`npm run dev`); files go under .data/examples/ (a data root by default).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
size="${1:-full}"
case "$size" in
  --small) per=60; test_per=20; val=100; epochs=2; student_epochs=10 ;;
  full) per=6000; test_per=1000; val=5000; epochs=10; student_epochs=12 ;;
  *) echo "usage: run.sh [--small]" >&2; exit 2 ;;
esac
work="${CHRYSALIS_EXAMPLE_DIR:-$root/.data/examples/own-teacher${1:+-small}}"
py="$(bash "$root/infra/setup/python-tf.sh" | tail -n1)"

[ -d "$work/images/train" ] || node "$root/examples/own-teacher/make-image-folder.mjs" "$work/images" "$per" "$test_per"
[ -f "$work/teacher/saved_model.pb" ] \
  || "$py" "$root/examples/own-teacher/train_teacher.py" "$work/images" "$work/teacher" --epochs "$epochs"

# One config for both students; only the student differs. lr 0.01: at the presets' 0.05 the CNN student
# diverges to chance in its first epoch here (the soft term's gradient is α·T = 2.8× the hard one's).
config() {
  cat <<JSON
{
  "name": "own-teacher-$1",
  "data": {
    "dataset": "images",
    "images": { "train": "$work/images/train", "test": "$work/images/test", "inputShape": [32, 32, 3] },
    "validationSize": $val
  },
  "teachers": { "import": [{ "kind": "savedmodel", "path": "$work/teacher", "outputs": "logits" }] },
  "student": {
    "model": $2,
    "train": { "epochs": $student_epochs, "batchSize": 128, "optimizer": { "kind": "sgd", "learningRate": 0.01, "momentum": 0.9 } }
  },
  "students": [{ "temperature": 4, "alpha": 0.7 }]
}
JSON
}
config cnn '{ "kind": "cnn", "filters": [16, 32], "dense": 64 }' > "$work/cnn.json"
config mlp '{ "kind": "mlp", "hidden": [256] }' > "$work/mlp.json"

"$root/chrysalis" run distill --config "$work/cnn.json"
export PATH="$root/.tools/bin:$PATH"
id="own-teacher-mlp-$(date +%s)"
temporal workflow start --type distillationPipeline --task-queue "${CHRYSALIS_PIPELINE_QUEUE:-chrysalis-pipeline}" \
  --workflow-id "$id" \
  --input "{\"config\": $(cat "$work/mlp.json"), \"options\": {\"computeQueue\": \"${CHRYSALIS_COMPUTE_QUEUE:-chrysalis-compute}\"}}"
temporal workflow result --workflow-id "$id"
"$root/chrysalis" report "$id"
