#!/usr/bin/env bash
# Coverage-guided fuzzing of the protocol decoder with Jazzer.js, for a bounded time.
#
#   test/fuzz/run.sh [SECONDS] [libFuzzer flags...]     e.g. test/fuzz/run.sh 30 -jobs=1
#
# Compiles src/protocol to test/fuzz/.build/protocol, seeds test/fuzz/.build/corpus, and runs
# test/fuzz/frame-decoder.fuzz.js, instrumenting only the compiled protocol code. A finding
# (an invariant violated, or an exception) makes the script exit non-zero and is written to
# test/fuzz/findings/ (crash-<sha1>); replay one with
#   test/fuzz/run.sh 0 test/fuzz/findings/crash-<sha1>
# Needs no npm script; uses the binaries in node_modules/.bin.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FUZZ="$ROOT/test/fuzz"
BUILD="$FUZZ/.build"
BIN="$ROOT/node_modules/.bin"
DURATION="${1:-30}"
shift || true

cd "$ROOT"
rm -rf "$BUILD/protocol"
"$BIN/tsc" --outDir "$BUILD/protocol" --rootDir src/protocol --target ES2022 --module commonjs \
  --strict --skipLibCheck --types node --sourceMap src/protocol/index.ts
export NESTJS_IROH_FUZZ_PROTOCOL="$BUILD/protocol"

# @jazzer.js/fuzzer 4.0.0's prebuilt addon needs glibc 2.38 and GCC 13's libstdc++. On an
# older system (Debian 12 has glibc 2.36), load a copy whose missing symbol versions are
# made weak, with a small shim providing those symbols (see compat/patch-addon.js).
if ! node -e "require('@jazzer.js/fuzzer')" >/dev/null 2>&1; then
  COMPAT="$BUILD/compat"
  ADDON="$ROOT/node_modules/@jazzer.js/fuzzer/prebuilds/fuzzer-linux-x64.node"
  if [[ ! -f "$COMPAT/fuzzer-linux-x64.node" || "$ADDON" -nt "$COMPAT/fuzzer-linux-x64.node" \
        || "$FUZZ/compat/shim.cpp" -nt "$COMPAT/libjazzer-compat.so" ]]; then
    command -v g++ >/dev/null || { echo "run.sh: Jazzer's addon does not load here and g++ is missing to build the compat shim" >&2; exit 1; }
    mkdir -p "$COMPAT"
    node "$FUZZ/compat/patch-addon.js" "$ADDON" "$COMPAT/fuzzer-linux-x64.node" >/dev/null
    g++ -shared -fPIC -O2 -o "$COMPAT/libjazzer-compat.so" "$FUZZ/compat/shim.cpp"
  fi
  export LD_PRELOAD="$COMPAT/libjazzer-compat.so${LD_PRELOAD:+:$LD_PRELOAD}"
  export JAZZER_COMPAT_ADDON="$COMPAT/fuzzer-linux-x64.node"
  export NODE_OPTIONS="--require $FUZZ/compat/redirect.js ${NODE_OPTIONS:-}"
  node -e "require('@jazzer.js/fuzzer')" || { echo "run.sh: Jazzer's addon does not load, even patched" >&2; exit 1; }
  echo "run.sh: using Jazzer's addon patched for this system's glibc/libstdc++" >&2
fi

node "$FUZZ/seed-corpus.js" "$BUILD/corpus"
mkdir -p "$FUZZ/findings"
# A file argument replays that input once instead of fuzzing.
# No --sync: a failed zlib inflate frees its native memory on a later turn of the event
# loop, which sync mode never gives; RSS then grows ~25 MB/s until libFuzzer's 2 GB limit.
CORPUS=("$BUILD/corpus")
if [[ $# -gt 0 && -f "$1" ]]; then CORPUS=("$@"); set --; fi
exec "$BIN/jazzer" test/fuzz/frame-decoder.fuzz "${CORPUS[@]}" \
  -i test/fuzz/.build/protocol/ \
  -- -max_total_time="$DURATION" -print_final_stats=1 -max_len=4096 \
  -artifact_prefix="$FUZZ/findings/" "$@"
