#!/usr/bin/env bash
# The CUDA path proven in one run (issue 15): the gpu-marked tests, then every `hyperviz bench`
# that takes a device, each printed as one JSON line on stdout (a "figure"), then a closing
# "gpu_check" line. Exit status 0 when every step passed.
#
#   scripts/gpu-check.sh [DEVICE]          DEVICE: cuda (default), cuda:N, or cpu for a dry run
#
# Sizes: GPU_CHECK_SIZE=full (the default on cuda: bench zoo at 4,096 models, eval of 1,000
# models, the default fit preset) or small (the default otherwise: a dry run that proves the
# script end to end on a CPU in a few minutes). Each step has its own time limit, and the limits
# add up to 7.5 minutes, so the whole check ends within 8 even when a step hangs; a step that
# fails or runs out of time prints its figure with "ok": false and the last line it wrote.
#
# Environment: PYTHON (default .venv/bin/python when present, else python3); the repository is
# put on PYTHONPATH, so it runs without `pip install` (e.g. on a machine with a CUDA torch and no
# network). GPU_CHECK_LOGS=DIR keeps every step's output there (default: a temporary folder).
# pytest-qt is not loaded (the gpu tests need no Qt; a GPU image may lack it).
# Not here: `bench gui` (it has no --device: the map and the GUI are measured on the CPU).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
device=${1:-cuda}
case $device in
    cuda|cuda:*) size=${GPU_CHECK_SIZE:-full} ;;
    cpu) size=${GPU_CHECK_SIZE:-small} ;;
    *) echo "usage: $0 [cuda|cuda:N|cpu]  (GPU_CHECK_SIZE=full|small)" >&2; exit 2 ;;
esac
case $size in full|small) ;; *) echo "GPU_CHECK_SIZE=$size: expected full or small" >&2; exit 2 ;; esac
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$root/.venv/bin/python" ]; then PYTHON=$root/.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=offscreen
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
logs=${GPU_CHECK_LOGS:-$work/logs}
mkdir -p "$logs"
cd "$root" || exit 2

if [ "$size" = full ]; then
    zoo_args=(--models 4096 --epochs 1 --loop-models 64 --repeats 3)
    fit_args=(--preset default --steps 20)
    eval_args=(--models 1000)
    build_args=(--models 512 --epochs 3)
    probe_args=(--preset tiny --epochs 5)
else
    zoo_args=(--models 64 --epochs 1 --loop-models 8 --repeats 1)
    fit_args=(--preset tiny --steps 3)
    eval_args=(--models 64)
    build_args=(--models 16 --epochs 2)
    probe_args=(--preset tiny --epochs 1)
fi

failed=()
started=$(date +%s%N)

# emit FIGURE MILLISECONDS RC OUT ERR [KIND]: one JSON line from a step's output (the last JSON object
# it printed, or the junit XML for the tests), with the figure's name, device, size and time.
emit() {
    "$PYTHON" - "$@" "$device" "$size" <<'EOF'
import json, sys
figure, seconds, rc, out, err, kind, device, size = sys.argv[1:9]
line = {"figure": figure, "device": device, "size": size, "seconds": round(int(seconds) / 1000, 1), "ok": rc == "0"}
def last_line(path):
    try:
        lines = [l.strip() for l in open(path, errors="replace") if l.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""
if kind == "junit":
    import xml.etree.ElementTree as ET
    try:
        root = ET.parse(out).getroot()
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
        line.update(passed=counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"],
                    failed=counts["failures"] + counts["errors"], skipped=counts["skipped"])
        bad = [c for c in suite.iter("testcase") if c.find("failure") is not None or c.find("error") is not None]
        if bad:
            line["failures"] = [f"{c.get('name')}: {((c.find('failure') if c.find('failure') is not None else c.find('error')).get('message') or '')[:200]}" for c in bad]
        if line["skipped"] or line["failed"] or line["passed"] == 0:
            line["ok"] = False
    except (OSError, ET.ParseError, AttributeError) as exc:
        line.update(ok=False, error=f"no test report ({exc})")
else:
    result = None
    try:
        for text in open(out, errors="replace"):
            text = text.strip()
            if text.startswith("{"):
                try:
                    result = json.loads(text)
                except ValueError:
                    pass
    except OSError:
        pass
    if isinstance(result, dict) and figure == "zoo_build":       # the build's figures, not the zoo's summary
        epochs = result.get("checkpoints", 1) - 1
        result = {k: result.get(k) for k in ("models", "checkpoints", "parameters", "content_sha256", "final_test_acc")}
        result["model_epochs_per_s"] = round(result["models"] * epochs / max(line["seconds"], 1e-3), 1)
    if isinstance(result, dict) and figure == "bench_probe":     # test scores per property: hyper-rep and s(W)
        result = {"candidates": {name: {prop: [row.get("hyperrep"), row.get("sw")] for prop, row in c["properties"].items()}
                                 for name, c in result.get("candidates", {}).items()}, "scores": "[hyperrep, sw]"}
    if isinstance(result, dict):
        line.update({k: v for k, v in result.items() if k not in line})
    elif rc == "0":
        line.update(ok=False, error="printed no JSON")
if rc in ("124", "137"):
    line["error"] = "ran out of its time limit"
if not line["ok"] and "error" not in line:
    line["error"] = last_line(err) or f"exit status {rc}"
print(json.dumps(line), flush=True)
sys.exit(0 if line["ok"] else 1)
EOF
}

# step FIGURE LIMIT_S [KIND] -- COMMAND...: run COMMAND with a time limit, then emit its figure.
step() {
    local figure=$1 limit=$2 kind=json
    shift 2
    if [ "$1" != "--" ]; then kind=$1; shift; fi
    shift
    local t0 t1 rc
    t0=$(date +%s%N)
    timeout -k 5 "$limit" "$@" >"$logs/$figure.out" 2>"$logs/$figure.err"
    rc=$?
    t1=$(date +%s%N)
    local report=$logs/$figure.out
    [ "$kind" = junit ] && report=$work/junit.xml
    emit "$figure" "$(( (t1 - t0) / 1000000 ))" "$rc" "$report" "$logs/$figure.err" "$kind" || failed+=("$figure")
}

# the device itself: what torch sees (a cuda run stops here when CUDA is missing)
"$PYTHON" - "$device" "$size" <<'EOF' || exit 1
import json, sys
import torch
device, size = sys.argv[1:3]
line = {"figure": "device", "device": device, "size": size, "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(), "torch_threads": torch.get_num_threads()}
if torch.cuda.is_available():
    line["gpu"] = torch.cuda.get_device_name(0)
    line["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
line["ok"] = not device.startswith("cuda") or torch.cuda.is_available()
if not line["ok"]:
    line["error"] = "CUDA is not available to this torch"
print(json.dumps(line), flush=True)
sys.exit(0 if line["ok"] else 1)
EOF

step gpu_tests 150 junit -- env HYPERVIZ_GPU_TEST_DEVICE="$device" "$PYTHON" -m pytest -q -p no:cacheprovider -p no:pytest-qt \
    -m gpu tests/test_cuda_path.py --junitxml="$work/junit.xml"
step bench_zoo 120 -- "$PYTHON" -m hyperviz bench zoo "${zoo_args[@]}" --device "$device" --json -q
step bench_fit 45 -- "$PYTHON" -m hyperviz bench fit "${fit_args[@]}" --device "$device" --json -q
step bench_eval 30 -- "$PYTHON" -m hyperviz bench eval "${eval_args[@]}" --device "$device" --json -q
step zoo_build 45 -- "$PYTHON" -m hyperviz zoo build "${build_args[@]}" --device "$device" --out "$work/zoo.h5" --json -q
step bench_probe 60 -- "$PYTHON" -m hyperviz bench probe "$work/zoo.h5" --out "$work/probe" --candidates default \
    "${probe_args[@]}" --device "$device" --json -q

ended=$(date +%s%N)
"$PYTHON" - "$device" "$size" "$(( (ended - started) / 1000000 ))" "${failed[@]}" <<'EOF'
import json, sys
device, size, seconds, *failed = sys.argv[1:]
print(json.dumps({"figure": "gpu_check", "device": device, "size": size, "seconds": round(int(seconds) / 1000, 1),
                  "ok": not failed, "failed_steps": failed}), flush=True)
EOF
[ ${#failed[@]} -eq 0 ]
