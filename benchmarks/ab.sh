#!/usr/bin/env bash
# Before/after: the working tree's library against git revision REV, on the same compare cases, in one process.
#
# Usage: [AB_SECONDS=S] benchmarks/ab.sh REV name [name...]
#   e.g. benchmarks/ab.sh HEAD gpt_step mha_fwdbwd     (the uncommitted change)
#        benchmarks/ab.sh HEAD~1 gpt_step              (the last commit)
#
# Builds REV's benchmarks (a detached git worktree in a temporary folder) and the working tree's, then runs
#   dotnet run -c Release --no-build --project benchmarks/NeuralPrimitives.Benchmarks -- ab REV_BUILD names --seconds S
# which loads REV's NeuralPrimitives.dll beside this one and times each case in alternating 0.25 s windows for S
# seconds (default 20) after warm-up. It prints both medians and the median of the paired ratios (this/base < 1: the
# working tree is faster) with its quartiles. Separate processes on the shared 2-vCPU hosts differ by more than most
# changes (the machine's speed moves between levels from minute to minute); paired windows within one process do not.
# A/A check: benchmarks/ab.sh HEAD NAME on a clean tree shows the host's spread for no change.
set -euo pipefail
if [ $# -lt 2 ]; then echo "usage: benchmarks/ab.sh REV name [name...]" >&2; exit 2; fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rev="$1"; shift
tmp="$(mktemp -d)"
cleanup() { git -C "$root" worktree remove --force "$tmp/src" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT

echo "== building $rev (Release)" >&2
git -C "$root" worktree add --detach "$tmp/src" "$rev" >/dev/null 2>&1
dotnet build -c Release "$tmp/src/benchmarks/NeuralPrimitives.Benchmarks" -nologo -v quiet -o "$tmp/base" >&2
echo "== building the working tree (Release)" >&2
dotnet build -c Release "$root/benchmarks/NeuralPrimitives.Benchmarks" -nologo -v quiet >&2
dotnet run -c Release --no-build --project "$root/benchmarks/NeuralPrimitives.Benchmarks" -- ab "$tmp/base" "$@" --seconds "${AB_SECONDS:-20}"
