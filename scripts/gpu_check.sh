#!/usr/bin/env bash
# One command for a GPU machine: does THEANO_FLAGS=device=cuda print the
# CPU's numbers there, and how fast are the port and its peers?
#
#   scripts/gpu_check.sh [-d MNIST_DIR] [-w WHEELS] [-o OUT_DIR]
#
# -d MNIST_DIR  the four MNIST IDX files (default: the checkout's data/)
# -w WHEELS     a .whl file, or a folder of them, installed with --no-deps
#               and no network into a temporary folder put on PYTHONPATH:
#               PyTensor 3.3.7 for a machine that has JAX with CUDA, numpy,
#               scipy, numba, matplotlib and pytest but not PyTensor
# -o OUT_DIR    where the results go (default: ./gpu-check); it holds, ready
#               to be committed as it is:
#                 summary.md      GPU, driver and CUDA, the trainings, the
#                                 benchmark's tables (port and peers, CPU
#                                 and GPU, float64 and float32, ratios)
#                 report.txt      everything the steps printed
#                 benchmark.json  the benchmark's raw numbers
# PYTHON        the interpreter to use (default: python3); it runs the
#               peers too (JAX and PyTorch, on the CPU and on the GPU)
# TIME_SCALE    each step has a time limit, so that a hang cannot take the
#               machine's whole lease; the limits suit a 16-core GPU machine
#               with cold caches, and are multiplied by TIME_SCALE (default
#               1; e.g. 10 on a small, busy machine)
#
# After checking, in one line each, that everything it needs is there, it
# trains on the full MNIST in float64 and float32, on the CPU and with
# device=cuda (force_device=True: no quiet fallback), compares the printed
# traces line by line, predicts with the GPU's model, runs the conjugate
# gradient variant and the device tests on the GPU, then times
# `benchmark --compare`.  The exit status is 2 when something is missing,
# 1 when a trace differs or a step fails.  Nothing is written in the
# checkout.  docs/gpu-check.md says how to run it on a GPU machine without network.
set -uo pipefail
checkout=$(cd "$(dirname "$0")/.." && pwd)
mnist=$checkout/data wheels="" out=gpu-check
python=${PYTHON:-python3}
scale=${TIME_SCALE:-1}
while getopts "d:w:o:h" option; do
    case $option in
        d) mnist=$OPTARG ;;
        w) wheels=$OPTARG ;;
        o) out=$OPTARG ;;
        *) sed -n '4,24p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { echo "gpu_check.sh: unexpected argument $1 (see -h)" >&2; exit 2; }
[[ $scale =~ ^[1-9][0-9]*$ ]] || { echo "gpu_check.sh: TIME_SCALE=$scale: expected a whole number from 1" >&2; exit 2; }
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$out/report.txt"

fail() {   # fail MESSAGE: a missing piece, said in one line
    echo "gpu_check.sh: $1" | tee -a "$out/report.txt" >&2
    exit 2
}

######################################
# What it needs, each checked at once
######################################
command -v "$python" > /dev/null || fail "no Python: $python is not found (set PYTHON)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2> /dev/null ||
    fail "$python is Python $("$python" -c 'import platform; print(platform.python_version())' 2>&1); the GPU path needs 3.12+ (PyTensor)"
[ -d "$mnist" ] || fail "no MNIST folder $mnist (give -d MNIST_DIR)"
mnist=$(cd "$mnist" && pwd)
for name in train-images-idx3-ubyte train-labels-idx1-ubyte \
            t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -f "$mnist/$name.gz" ] || [ -f "$mnist/$name" ] ||
        fail "$mnist has no $name(.gz): it needs the four MNIST IDX files"
done
site=""
if [ -n "$wheels" ]; then
    [ -e "$wheels" ] || fail "no wheels at $wheels"
    if [ -d "$wheels" ]; then
        files=("$wheels"/*.whl)
    else
        files=("$wheels")
    fi
    [ -f "${files[0]}" ] || fail "no .whl file in $wheels"
    site=$work/site
    "$python" -m pip install --quiet --no-index --no-deps --no-compile \
        --no-cache-dir --target "$site" "${files[@]}" > "$work/pip.log" 2>&1 ||
        fail "the wheels did not install: $(tail -n 1 "$work/pip.log")"
fi
export PYTHONPATH="$checkout${site:+:$site}${PYTHONPATH:+:$PYTHONPATH}"
export LOGREG_MNIST_ENGINE=pytensor LOGREG_MNIST_DATA="$work/data"
# JAX takes 75 % of a GPU's memory up front unless told not to: the tests
# and the benchmark run several JAX processes on one GPU
export XLA_PYTHON_CLIENT_PREALLOCATE=false
missing=$("$python" -c '
import importlib.util
print(" ".join(m for m in ("pytensor", "jax", "numpy", "scipy", "numba",
                           "matplotlib", "pytest")
               if importlib.util.find_spec(m) is None))' 2>&1) ||
    fail "$python does not run: $missing"
[ -z "$missing" ] || fail "$python lacks $missing (PyTensor comes from -w pytensor-3.3.7-...whl)"
gpu=$("$python" -c 'import jax; print(jax.devices("gpu")[0].device_kind)' 2>&1) ||
    fail "JAX finds no GPU: $(echo "$gpu" | tail -n 1)"
engine=$(cd "$work" && THEANO_FLAGS=device=cuda,force_device=True "$python" \
    -c 'from logreg_mnist import engine; print(engine.describe())' 2>&1) ||
    fail "device=cuda does not start: $(echo "$engine" | tail -n 1)"

#########
# Steps #
#########
status=0
step() {   # step TITLE COMMAND...: run it, timed; say if it failed
    echo
    echo "== $1"
    shift
    local start=$SECONDS
    "$@"
    local code=$?
    echo "-- $((SECONDS - start)) s"
    if [ $code -ne 0 ]; then
        echo "!! failed (exit $code): $*"
        status=1
    fi
}

limit() {   # limit SECONDS COMMAND...: run it, stopped after SECONDS x scale
    timeout -k 10 $(($1 * scale)) "${@:2}"
}

traces() {   # the tutorial's result lines of a training log
    grep -E '^(epoch |     epoch |Optimization)' "$1"
}

train() {   # train DEVICE FLOATX: the tutorial's training, its log kept
    THEANO_FLAGS="device=$1,floatX=$2,force_device=True" \
        limit 180 "$python" -m logreg_mnist.train --dataset "$mnist" \
        --model-out "$1-$2.pkl" > "$1-$2.log" 2> "$1-$2.err"
    local code=$?
    cat "$1-$2.log" "$1-$2.err"
    return $code
}

result_row() {   # result_row DEVICE FLOATX NOTE: a row of summary.md
    awk -v where="$1" -v floatx="$2" -v note="$3" '
        /^Optimization complete/ { valid = $8; test = $13 }
        /^The code run for/ { epochs = $5; rate = $8 }
        END { printf "| %s | %s | %s | %s %% | %s %% | %s | %s |\n",
              where, floatx, epochs, valid, test, rate, note }' "$1-$2.log"
}

bench() {   # the benchmark's Markdown into benchmark.md, its JSON into $out
    limit 300 "$python" -m logreg_mnist.benchmark --compare \
        --dataset "$mnist" --markdown --save-json "$out/benchmark.json" \
        > benchmark.md
}

machine() {   # what the machine is: GPU, driver, CUDA, libraries
    if command -v nvidia-smi > /dev/null; then
        nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
        nvidia-smi | grep -o 'CUDA Version: [0-9.]*'
    else
        echo 'nvidia-smi: not found'
    fi
    "$python" -c '
import importlib, platform, jax
print("Python", platform.python_version(), "at", __import__("sys").executable)
for name in ("numpy", "scipy", "numba", "pytensor", "jax", "jaxlib", "torch"):
    try:
        print(name, importlib.import_module(name).__version__)
    except ImportError:
        print(name, "not installed")
print("JAX devices:", jax.devices("gpu"))'
    echo "$engine (device=cuda)"
    echo "CPU cores: $(nproc)"
}

start=$SECONDS
cd "$work"
{
    echo "gpu_check.sh on $(hostname), $(date -u '+%Y-%m-%d %H:%M UTC'); checkout $(git -C "$checkout" rev-parse --short HEAD 2>/dev/null || echo '(not a git checkout)')"
    step "machine" machine
    for floatx in float64 float32; do
        for device in cpu cuda; do
            step "train, device=$device, floatX=$floatx" train $device $floatx
        done
        echo
        if diff <(traces "cpu-$floatx.log") <(traces "cuda-$floatx.log") &&
                [ -n "$(traces "cpu-$floatx.log")" ]; then
            echo "== $floatx: the GPU printed the CPU's trace, line for line"
            echo same > "trace-$floatx"
        else
            echo "!! $floatx: the traces differ (diff above)"
            status=1
        fi
    done
    step "predict with the GPU's float32 model" limit 60 env \
        THEANO_FLAGS=device=cuda,floatX=float32,force_device=True \
        "$python" -m logreg_mnist.predict --model cuda-float32.pkl \
        --dataset "$mnist"
    step "conjugate gradient on the GPU" limit 120 env \
        THEANO_FLAGS=device=cuda,force_device=True \
        "$python" -m logreg_mnist.cg --dataset "$mnist" --n-epochs 20 \
        --model-out cg.pkl
    step "device tests on the GPU" limit 300 env \
        LOGREG_MNIST_TEST_DATA="$mnist" "$python" -m pytest -q -p no:cacheprovider \
        --rootdir "$checkout" -k 'gpu_path or cuda or jax_mode' \
        "$checkout/tests/test_gpu_path.py" \
        "$checkout/tests/test_engine.py" "$checkout/tests/test_benchmark.py"
    step "benchmark --compare" bench
    cat benchmark.md
    echo
    echo "== done in $((SECONDS - start)) s, exit status $status"
    exit $status
} 2>&1 | tee -a "$out/report.txt"
status=${PIPESTATUS[0]}

# summary.md: the facts, the trainings, the benchmark's tables
{
    echo "# THEANO_FLAGS=device=cuda on $gpu"
    echo
    echo "\`scripts/gpu_check.sh\`, $(head -n 1 "$out/report.txt" | sed 's/^gpu_check.sh on [^,]*, //');"
    echo "$((SECONDS - start)) s, exit status $status$([ $status -eq 0 ] && echo ' (every step passed, both traces equal)')."
    echo
    sed -n '/^== machine$/,/^-- /p' "$out/report.txt" | sed '1d;$d;s/^/    /'
    echo
    echo "## The tutorial's training on the full MNIST"
    echo
    echo "| device | floatX | epochs | best validation | test | epochs/sec (train's line) | trace |"
    echo "|---|---|---:|---:|---:|---:|---|"
    for floatx in float64 float32; do
        result_row cpu $floatx "-"
        result_row cuda $floatx "$([ -f "trace-$floatx" ] && echo "the CPU's, line for line" || echo 'DIFFERS from the CPU')"
    done
    echo
    echo "## benchmark --compare"
    echo
    cat benchmark.md
} > "$out/summary.md" 2> /dev/null
cat "$out/summary.md"
exit $status
