#!/usr/bin/env bash
# One command for whoever has a GPU machine: does THEANO_FLAGS=device=cuda
# give the CPU's numbers there, and how fast is it?
#
#   scripts/gpu_check.sh MNIST_IDX_DIR [PYTENSOR_WHEEL] [REPORT]
#
# MNIST_IDX_DIR   a folder with the four MNIST IDX files
# PYTENSOR_WHEEL  a PyTensor 3.3.7 wheel, installed with --no-deps into a
#                 temporary folder put on PYTHONPATH (for a machine that has
#                 JAX with CUDA, numpy, numba, scipy and matplotlib but no
#                 network); leave it out where PyTensor is installed
# REPORT          where everything printed goes (default: gpu-check.txt)
#
# It trains on the full MNIST in float64 and float32, on the CPU and with
# device=cuda (force_device=True: no quiet fallback), compares the printed
# traces line by line, predicts with the GPU's model, runs the conjugate
# gradient variant and the device tests on the GPU, then
# `benchmark --compare`.  The exit status is non-zero if a trace differs or
# a step fails.  Run it from anywhere; nothing is written in the checkout.
set -uo pipefail
checkout=$(cd "$(dirname "$0")/.." && pwd)
mnist=$(cd "${1:?usage: $0 MNIST_IDX_DIR [PYTENSOR_WHEEL] [REPORT]}" && pwd)
wheel=${2:-}
report=$(realpath -m "${3:-gpu-check.txt}")
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

step() {   # step TITLE COMMAND...: run it, say if it failed
    echo
    echo "== $1"
    shift
    "$@" || { echo "!! failed (exit $?): $*"; status=1; }
}

traces() {   # the tutorial's result lines of a training log
    grep -E '^(epoch |     epoch |Optimization)' "$1"
}

{
    if [ -n "$wheel" ]; then
        step "PyTensor from $wheel" "$python" -m pip install --quiet \
            --no-deps --no-index --target "$work/site" "$wheel"
    fi
    export PYTHONPATH="$checkout${wheel:+:$work/site}${PYTHONPATH:+:$PYTHONPATH}"
    export LOGREG_MNIST_ENGINE=pytensor LOGREG_MNIST_DATA="$work/data"
    cd "$work"
    step "machine" bash -c "{ nvidia-smi --query-gpu=name,driver_version \
        --format=csv,noheader && nvidia-smi | grep -o 'CUDA Version: [0-9.]*'; \
        } || echo 'no nvidia-smi'; $python -c 'import sys, jax, numpy, pytensor; print(sys.version); \
        print(\"jax\", jax.__version__, jax.devices()); \
        print(\"numpy\", numpy.__version__, \"pytensor\", pytensor.__version__)'"
    for floatx in float64 float32; do
        for device in cpu cuda; do
            step "train, device=$device, floatX=$floatx" env \
                THEANO_FLAGS="device=$device,floatX=$floatx,force_device=True" \
                "$python" -m logreg_mnist.train --dataset "$mnist" \
                --model-out "$device-$floatx.pkl" \
                > "$device-$floatx.log" 2> "$device-$floatx.err"
            cat "$device-$floatx.log" "$device-$floatx.err"
        done
        echo
        if diff <(traces "cpu-$floatx.log") <(traces "cuda-$floatx.log"); then
            echo "== $floatx: the GPU printed the CPU's trace, line for line"
        else
            echo "!! $floatx: the traces differ (diff above)"
            status=1
        fi
    done
    step "predict with the GPU's float32 model" env \
        THEANO_FLAGS=device=cuda,floatX=float32,force_device=True \
        "$python" -m logreg_mnist.predict --model cuda-float32.pkl \
        --dataset "$mnist"
    step "conjugate gradient on the GPU" env \
        THEANO_FLAGS=device=cuda,force_device=True \
        "$python" -m logreg_mnist.cg --dataset "$mnist" --n-epochs 20 \
        --model-out cg.pkl
    step "device tests on the GPU" env LOGREG_MNIST_TEST_DATA="$mnist" \
        "$python" -m pytest -q -p no:cacheprovider \
        --rootdir "$checkout" "$checkout/tests/test_gpu_path.py" \
        "$checkout/tests/test_engine.py"
    step "benchmark --compare" "$python" -m logreg_mnist.benchmark \
        --compare --dataset "$mnist"
    echo
    echo "== done, exit status $status"
    exit $status
} 2>&1 | tee "$report"
exit "${PIPESTATUS[0]}"
