# Shared by the bench scripts: publish_block NAME HEADING TABLE replaces the
# <!-- NAME:begin --> ... <!-- NAME:end --> block of docs/BENCHMARKS.md with
# TABLE, or appends HEADING and TABLE when the block is not there yet.
publish_block() {
  local name=$1 heading=$2 table=$3 doc=docs/BENCHMARKS.md
  if grep -q "$name:begin" "$doc"; then
    awk -v table="$table" -v b="$name:begin" -v e="$name:end" \
      'index($0, b){print table; skip=1} index($0, e){skip=0; next} !skip' "$doc" > "$doc.tmp" && mv "$doc.tmp" "$doc"
  else
    { echo; [ -n "$heading" ] && printf '%s\n\n' "$heading"; echo "$table"; } >> "$doc"
  fi
}
