#!/bin/bash
# tools/bench_hardening.sh OLD_TOMOSTORE NEW_TOMOSTORE BIG.mrc: ingest, export and 20 random boxes with
# two builds side by side (issue 22: the build before its checks, 95a3129, and now), two rounds.
set -e
OLD=$(realpath "$1"); NEW=$(realpath "$2"); BIG=$(realpath "$3")
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT; cd "$W"
for round in 1 2; do
for v in old new; do
  T=$([[ $v == old ]] && echo "$OLD" || echo "$NEW")
  rm -rf $v.store; $T init $v.store >/dev/null
  s=$(date +%s.%N); $T ingest $v.store "$BIG" --name big >/dev/null 2>&1; e=$(date +%s.%N)
  ing=$(echo "$e - $s" | bc)
  s=$(date +%s.%N); $T export $v.store big -o "$W"/out-$v.mrc >/dev/null 2>&1; e=$(date +%s.%N)
  exp=$(echo "$e - $s" | bc)
  s=$(date +%s.%N); for i in $(seq 1 20); do x=$((i*37 % 900)); $T get $v.store big --box $x:$((x+64)),$((x/2+300)):$((x/2+364)),$((i*3)):$((i*3+40)) -o "$W"/b.npy >/dev/null; done; e=$(date +%s.%N)
  box=$(echo "($e - $s) / 20 * 1000" | bc -l)
  du=$(du -sm $v.store | cut -f1)
  printf "round %d %-4s ingest %6.2f s  export %6.2f s  20 random boxes %6.1f ms each  store %d MiB\n" $round $v $ing $exp $box $du
done; done
