#!/usr/bin/env bash
# Regenerate the expected outputs of every case with the real ansible-inventory (the oracle).
# Needs a virtualenv with ansible-core:  python3 -m venv /work/venv-ansible &&
#   /work/venv-ansible/bin/pip install ansible-core
# Tests never run this: they compare against the committed expected/ files.
# Usage: oracle.sh [CASE...]   (default: every case)
set -euo pipefail
VENV=${VENV:-/work/venv-ansible}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_DEPRECATION_WARNINGS=0
# Arguments: only these cases (default: every case).
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=("$here"/*/)
for case in "${cases[@]}"; do
  case=${case%/}
  [[ $case == /* ]] || case="$here/$case"
  name=$(basename "$case")
  [ -f "$case/sources" ] || continue
  args=()
  while IFS= read -r s; do
    [ -n "$s" ] || continue
    if [[ $s == *,* ]]; then args+=(-i "$s"); else args+=(-i "$case/$s"); fi
  done < "$case/sources"
  out="$case/expected"
  rm -rf "$out"; mkdir -p "$out"
  (cd "$empty" && "$VENV/bin/ansible-inventory" "${args[@]}" --list > "$out/list.json" 2>/dev/null)
  (cd "$empty" && "$VENV/bin/ansible-inventory" "${args[@]}" --graph > "$out/graph.txt" 2>/dev/null)
  (cd "$empty" && "$VENV/bin/ansible-inventory" "${args[@]}" --list --yaml > "$out/list.yml" 2>/dev/null)
  if [ -f "$case/graph_group" ]; then
    (cd "$empty" && "$VENV/bin/ansible-inventory" "${args[@]}" --graph "$(cat "$case/graph_group")" > "$out/graph-group.txt" 2>/dev/null)
  fi
  if [ -f "$case/limit" ]; then
    (cd "$empty" && "$VENV/bin/ansible-inventory" "${args[@]}" --list -l "$(cat "$case/limit")" > "$out/list-limit.json" 2>/dev/null)
  fi
  if [ -f "$case/host_checks" ]; then
    while IFS= read -r h; do
      [ -n "$h" ] || continue
      (cd "$empty" && "$VENV/bin/ansible-inventory" "${args[@]}" --host "$h" > "$out/host-$h.json" 2>/dev/null) \
        || echo '!ERROR' > "$out/host-$h.json"
      (cd "$empty" && "$VENV/bin/ansible-inventory" "${args[@]}" --host "$h" --yaml > "$out/host-$h.yml" 2>/dev/null) \
        || echo '!ERROR' > "$out/host-$h.yml"
    done < "$case/host_checks"
  fi
  if [ -f "$case/patterns" ]; then
    : > "$out/patterns.tsv"
    while IFS=$'\t' read -r pat lim; do
      [ -n "$pat" ] || continue
      extra=()
      [ -n "${lim:-}" ] && extra=(-l "$lim")
      if res=$(cd "$repo" && "$VENV/bin/ansible" "${args[@]}" "$pat" "${extra[@]}" --list-hosts 2>/dev/null); then
        hosts=$(printf '%s\n' "$res" | tail -n +2 | sed 's/^ *//' | paste -sd, -)
      else
        hosts='!ERROR'
      fi
      printf '%s\t%s\t%s\n' "$pat" "${lim:-}" "$hosts" >> "$out/patterns.tsv"
    done < "$case/patterns"
  fi
  echo "oracle: $name"
done
