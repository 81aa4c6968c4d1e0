#!/usr/bin/env bash
# Side-by-side comparison: ours (C#), PyTorch and ONNX Runtime on the same named shapes.
#
# Usage: [ROUNDS=N] benchmarks/compare.sh [names...]
#   With no names: every case our runner knows (`compare --list`), or, if it knows none, every
#   case any peer knows. Each runner is given only the names it has; missing entries print "-".
#
# Builds the benchmarks once in Release, then runs, one after another (never concurrently):
#   ours   dotnet run -c Release --no-build --project benchmarks/NeuralPrimitives.Benchmarks -- compare NAME, once per case
#   torch  /usr/bin/python3 benchmarks/peers/torch_peer.py NAMES   (OMP_WAIT_POLICY=PASSIVE, 2 threads;
#          skipped with a note when python3 cannot import torch)
#   ORT    dotnet run ... -- compare --peer onnx NAMES              (2 intra-op threads, ORT_ENABLE_ALL)
# and prints: name, ours ms, torch ms, ORT ms, ours/torch, ours/ORT (a ratio < 1 means we are faster).
# Each runner reports the median of repeated runs after warm-up. Timings drift between processes
# on a shared VM: repeat the script and compare ratios, not single numbers.
# ROUNDS=N (default 1) repeats the three runners in turn N times (ours, torch, ORT, ours, torch, ORT, …), prints the
# median over the rounds of each runner's figure, and then every round's ratios. On the 2-vCPU hosts a process's
# two-thread speed moves between discrete levels for seconds at a time (e.g. mha_fwd 5.2, 6.7 or 9.6 ms in 0.4 s
# windows of one process, while one thread held 10 ms): alternating rounds gives each runner the same chances.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
proj="$root/benchmarks/NeuralPrimitives.Benchmarks"
python="${PYTHON:-/usr/bin/python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== building benchmarks (Release)" >&2
dotnet build -c Release "$proj" -nologo -v quiet >&2
bench() { dotnet run -c Release --no-build --project "$proj" -- "$@"; }

# Which names each runner knows.
bench compare --list > "$tmp/ours.names"
ls "$root/benchmarks/models" 2>/dev/null | sed -n 's/\.onnx$//p' > "$tmp/onnx.names" || true
have_torch=0
if "$python" -c "import torch" 2>/dev/null; then
  have_torch=1
  OMP_WAIT_POLICY=PASSIVE "$python" - "$root/benchmarks/peers" > "$tmp/torch.names" <<'PY'
import importlib.util, os, sys
sys.path.insert(0, sys.argv[1])
spec = importlib.util.spec_from_file_location("torch_peer", os.path.join(sys.argv[1], "torch_peer.py"))
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
print("\n".join(mod.load_cases()))
PY
else
  echo "note: $python cannot import torch; PyTorch column skipped" >&2
  : > "$tmp/torch.names"
fi

if [ $# -gt 0 ]; then
  printf '%s\n' "$@" > "$tmp/names"
elif [ -s "$tmp/ours.names" ]; then
  cp "$tmp/ours.names" "$tmp/names"
else
  cat "$tmp/ours.names" "$tmp/torch.names" "$tmp/onnx.names" | awk '!seen[$0]++' > "$tmp/names"
fi

# The requested names a runner knows, in the requested order.
known() { awk 'NR==FNR { k[$0]=1; next } ($0 in k)' "$1" "$tmp/names"; }

# Ours runs each case in a fresh process: a case measured after another inherits its heap. After copy_400mb's two
# 400 MB arrays the GC's budget is large, so a case that allocates per call (an Infer returning new tensors) writes
# to fresh memory on every call (1 collection in the timed case against 268 alone; the cost is most likely first-touch
# page faults): rnn_fwd took 10.9 ms after copy_400mb and 2.1 ms alone (host C, 2026-12-02), and a compacting
# GC.Collect between the cases did not help.
run_ours() {
  mapfile -t n < <(known "$tmp/ours.names")
  if [ ${#n[@]} -eq 0 ]; then echo '{}'; return; fi
  echo "== ours (one process per case): ${n[*]}" >&2
  for name in "${n[@]}"; do bench compare "$name" | tail -n 1; done | python3 -c '
import json, sys
merged = {}
for line in sys.stdin:
    merged.update(json.loads(line))
print(json.dumps(merged))'
}
run_torch() {
  mapfile -t n < <(known "$tmp/torch.names")
  if [ $have_torch -eq 0 ] || [ ${#n[@]} -eq 0 ]; then echo '{}'
  else echo "== torch: ${n[*]}" >&2; OMP_WAIT_POLICY=PASSIVE "$python" "$root/benchmarks/peers/torch_peer.py" "${n[@]}" --threads 2; fi
}
run_onnx() {
  mapfile -t n < <(known "$tmp/onnx.names")
  if [ ${#n[@]} -eq 0 ]; then echo '{}'; else echo "== onnxruntime: ${n[*]}" >&2; bench compare --peer onnx "${n[@]}"; fi
}

rounds="${ROUNDS:-1}"
# The machine's two-thread FMA ceiling before each round: it moves too (e.g. 96 or 174 GFLOP/s minutes apart on one
# AVX2 host, when its two vCPUs share one core or not), and says which state the round's figures were taken in.
peak() { bench fma-peak | sed -n 's/^ *2 threads: \([0-9]*\) GFLOP.*/\1/p'; }
for r in $(seq 1 "$rounds"); do
  [ "$rounds" -gt 1 ] && echo "== round $r of $rounds" >&2
  peak > "$tmp/peak.$r"
  run_ours  | tail -n 1 > "$tmp/ours.$r.json"
  run_torch | tail -n 1 > "$tmp/torch.$r.json"
  run_onnx  | tail -n 1 > "$tmp/onnx.$r.json"
done

# Plain python3 (no torch needed) formats the table.
python3 - "$tmp" "$rounds" <<'PY'
import json, os, statistics, sys
d, rounds = sys.argv[1], int(sys.argv[2])
load = lambda n, r: json.load(open(os.path.join(d, f"{n}.{r}.json")))
runs = {k: [load(k, r) for r in range(1, rounds + 1)] for k in ("ours", "torch", "onnx")}
med = lambda k, n: (statistics.median(v) if (v := [x[n] for x in runs[k] if n in x]) else None)
names = [l.strip() for l in open(os.path.join(d, "names")) if l.strip()]
ms = lambda v: f"{v:.4g}" if v is not None else "-"
ratio = lambda a, b: f"{a / b:.2f}" if a is not None and b else "-"
rows = [("name", "ours ms", "torch ms", "ORT ms", "ours/torch", "ours/ORT")]
for n in names:
    o, t, x = med("ours", n), med("torch", n), med("onnx", n)
    rows.append((n, ms(o), ms(t), ms(x), ratio(o, t), ratio(o, x)))
w = [max(len(r[i]) for r in rows) for i in range(6)]
peaks = [open(os.path.join(d, f"peak.{r}")).read().strip() or "?" for r in range(1, rounds + 1)]
print(f"fma-peak before each round (2 threads, GFLOP/s): {' '.join(peaks)}")
if rounds > 1: print(f"medians over {rounds} rounds")
for i, r in enumerate(rows):
    print("  ".join(c.ljust(w[j]) if j == 0 else c.rjust(w[j]) for j, c in enumerate(r)))
    if i == 0:
        print("  ".join("-" * x for x in w))
if rounds > 1:
    print("\nper round (ours/torch; ours/ORT):")
    for n in names:
        per = lambda k: " ".join(ratio(runs["ours"][r].get(n), runs[k][r].get(n)) for r in range(rounds))
        print(f"{n.ljust(w[0])}  {per('torch')};  {per('onnx')}")
PY
