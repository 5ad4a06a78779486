#!/usr/bin/env bash
# tests/check_layers.sh — every #include "..." in the layered code must name a
# header of the file's own layer or of a layer it may use (cmake/layers.txt).
# The build already refuses an upward include (a layer's include path holds
# only its own folder and the layers below it); this check also refuses a
# skip the table does not allow (the CLI reaching into kernels/, say) and an
# include that resolves to no layer at all. Prints each offence, fails on any.
set -euo pipefail
root=${SEER_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$root"

declare -A uses=()      # layer -> " its own folder + the layers it may use "
declare -A owner=()     # header base name -> layer holding it
layers=()
while read -r dir rest; do
  [[ -z "$dir" || "$dir" == \#* ]] && continue
  layers+=("$dir")
  uses[$dir]=" $dir $rest "
  for h in "$dir"/*.h; do
    [ -e "$h" ] || continue
    b=$(basename "$h")
    if [ -n "${owner[$b]:-}" ]; then
      echo "check_layers: $b is in both ${owner[$b]} and $dir (bare includes would be ambiguous)"; exit 1
    fi
    owner[$b]=$dir
  done
done < cmake/layers.txt

bad=0; files=0
for dir in "${layers[@]}"; do
  for f in "$dir"/*.c "$dir"/*.cc "$dir"/*.h; do
    [ -e "$f" ] || continue
    files=$((files + 1))
    while IFS=: read -r line inc; do
      inc=${inc#*\"}; inc=${inc%%\"*}
      [[ "$inc" == */* ]] && { echo "$f:$line: #include \"$inc\" names a path; include headers by name"; bad=$((bad + 1)); continue; }
      o=${owner[$inc]:-}
      if [ -z "$o" ]; then
        echo "$f:$line: #include \"$inc\" is no header of any layer"; bad=$((bad + 1))
      elif [[ "${uses[$dir]}" != *" $o "* ]]; then
        echo "$f:$line: #include \"$inc\": layer $dir may not use $o (cmake/layers.txt)"; bad=$((bad + 1))
      fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true)
  done
done
echo "check_layers: ${#layers[@]} layers, $files files, $bad offending includes"
[ "$bad" = 0 ]
