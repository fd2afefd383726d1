#!/usr/bin/env bash
# Compares two built trees (e.g. before and after a refactor) in one run on one machine: the whole quick
# demo's wall time and the training-step benchmark's tokens/s, alternating A B A B ... so that drift and
# noise from other work hit both alike; prints each measurement and the ratios of the medians (B / A).
# Build both first (`npm run build` in each). A tool for reviews; no test calls it.
#
# Usage: scripts/bench-compare.sh TREE_A TREE_B [ROUNDS]     e.g. scripts/bench-compare.sh ../before . 3
#        FULL=1 scripts/bench-compare.sh ...                   the full demo instead of the quick one (about 8-11 min a run)
set -euo pipefail
A=$(cd "$1" && pwd); B=$(cd "$2" && pwd); ROUNDS=${3:-2}
QUICK=--quick; [ "${FULL:-0}" = 1 ] && QUICK=''
LABEL=${QUICK:-(full)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
demo() { # tree label round -> seconds
  local s e; s=$(date +%s.%N)
  node "$1/bin/alol.js" demo $QUICK --threads 2 --device cpu --out "$tmp/demo-$2-$3" >"$tmp/demo-$2-$3.log" 2>&1
  e=$(date +%s.%N); echo "$e - $s" | bc
}
train() { # tree -> tokens/s (the benchmark script of that tree, run from its out/)
  (cd "$1" && node out/bench/train.js --steps 10 --warmup 3) | awk '/^tokens\/s/ {print $2}'
}
: >"$tmp/a-demo"; : >"$tmp/b-demo"; : >"$tmp/a-train"; : >"$tmp/b-train"
for r in $(seq 1 "$ROUNDS"); do
  for side in a b; do
    tree=$A; [ "$side" = b ] && tree=$B
    d=$(demo "$tree" "$side" "$r"); t=$(train "$tree")
    echo "$d" >>"$tmp/$side-demo"; echo "$t" >>"$tmp/$side-train"
    printf 'round %d %s: demo %s %6.1f s, bench:train %s tokens/s   (%s)\n' "$r" "$side" "$LABEL" "$d" "$t" "$tree"
  done
done
ad=$(median <"$tmp/a-demo"); bd=$(median <"$tmp/b-demo"); at=$(median <"$tmp/a-train"); bt=$(median <"$tmp/b-train")
printf 'median demo %s: A %.1f s, B %.1f s, B/A %.3f\n' "$LABEL" "$ad" "$bd" "$(echo "$bd / $ad" | bc -l)"
printf 'median bench:train:  A %s tokens/s, B %s tokens/s, B/A %.3f\n' "$at" "$bt" "$(echo "$bt / $at" | bc -l)"
printf 'spread within a side (max/min): demo A %.3f B %.3f; train A %.3f B %.3f\n' \
  "$(sort -g "$tmp/a-demo" | awk 'NR==1{m=$1} {x=$1} END {print x/m}')" "$(sort -g "$tmp/b-demo" | awk 'NR==1{m=$1} {x=$1} END {print x/m}')" \
  "$(sort -g "$tmp/a-train" | awk 'NR==1{m=$1} {x=$1} END {print x/m}')" "$(sort -g "$tmp/b-train" | awk 'NR==1{m=$1} {x=$1} END {print x/m}')"
