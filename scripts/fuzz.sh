#!/usr/bin/env bash
# libFuzzer targets (Fuzz/, docs/benchmarks.md "Fuzzing"), built with
# -sanitize=fuzzer,address in .build-fuzz (never .build).
#
#   scripts/fuzz.sh [run]   build, run each target FUZZ_SECONDS (default 300) from
#                           its corpus Fuzz/corpus/<target>; one line per target,
#                           closing "N passed, M failed"; exit 1 on any crash
#   scripts/fuzz.sh build   build only
#   scripts/fuzz.sh seed    add the seeds (vipd's own encoders, the example and
#                           test configs) to the corpus, minimised
#   scripts/fuzz.sh merge   minimise the corpus (-set_cover_merge=1), taking in the inputs
#                           a run kept (FUZZ_WORK, below)
#
# FUZZ_TARGETS   targets to run (default: all five)
# FUZZ_WORK      where runs keep new inputs, crashes and logs (default .build-fuzz/work)
# FUZZ_FLAGS     extra libFuzzer flags, e.g. "-only_ascii=1"
# Fuzz/regressions/<target>/ holds the inputs of crashes that were fixed; every
# run replays them first.
# A crash leaves its input in $FUZZ_WORK/<target>/crash-* (or leak-, timeout-,
# oom-); reproduce with .build-fuzz/release/<target> <file>.
set -uo pipefail
cd "$(dirname "$0")/.."

TARGETS=${FUZZ_TARGETS:-FuzzHeartbeat FuzzConfig FuzzNetlink FuzzStatus FuzzVRRP}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-300}
WORK=${FUZZ_WORK:-.build-fuzz/work}
SCRATCH=.build-fuzz
BIN=$SCRATCH/release
# Stack-use-after-return detection and allocation stacks cost a third of the
# speed; a crash found without them is re-run with the defaults to report it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=0:malloc_context_size=0}

build() {
    # Only the fuzz targets and what they import are built. vipd's Swift
    # modules and the targets get coverage and ASan (-sanitize=fuzzer,address
    # in Package.swift), the C code (BoringSSL, libyaml) ASan from here;
    # swift-crypto and Yams are left alone: they are fuzzed on their own
    # (OSS-Fuzz) and instrumenting them halved the speed. A -sanitize= given
    # here would override Package.swift's. lld: gold fails to link the runtime.
    local target
    for target in $TARGETS; do
        if ! VIPD_FUZZ=1 swift build --scratch-path "$SCRATCH" -c release \
                -Xcc -fsanitize=address -Xswiftc -use-ld=lld \
                --product "$target" > "$SCRATCH/build-$target.txt" 2>&1; then
            tail -n 40 "$SCRATCH/build-$target.txt"
            echo "FAIL build of $target"
            return 1
        fi
    done
}

# Config seeds: the example and every YAML text quoted in the Swift tests.
config_seeds() {
    python3 - "$1" <<'EOF'
import pathlib, re, sys
out = pathlib.Path(sys.argv[1])
texts = [pathlib.Path("conf/vipd.example.yaml").read_text()]
for test in sorted(pathlib.Path("Tests").glob("*/*.swift")):
    for block in re.findall(r'"""\n(.*?)\n\s*"""', test.read_text(), re.S):
        if re.search(r"^\s*(node|peers|vrid|auth|checks|vips):", block, re.M):
            texts.append(re.sub(r"\\\(.*?\)", "x", block))
for i, text in enumerate(texts, 1):
    (out / f"seed-{i}").write_text(text)
EOF
}

seed() {
    local target dir
    for target in $TARGETS; do
        dir=$(mktemp -d)
        if [ "$target" = FuzzConfig ]; then config_seeds "$dir"; else VIPD_FUZZ_SEEDS=$dir "$BIN/$target"; fi
        mkdir -p "Fuzz/corpus/$target"
        "$BIN/$target" -merge=1 "Fuzz/corpus/$target" "$dir" > "$SCRATCH/merge-$target.txt" 2>&1
        echo "$target: $(ls "$dir" | wc -l) seeds, corpus $(ls "Fuzz/corpus/$target" | wc -l) files"
        rm -rf "$dir"
    done
}

merge() {
    local target new
    for target in $TARGETS; do
        new=$(mktemp -d)
        # Into an empty directory, so that inputs made redundant go as well;
        # -set_cover_merge keeps fewer files than -merge for the same features.
        "$BIN/$target" -set_cover_merge=1 "$new" "Fuzz/corpus/$target" "$WORK/$target/corpus" \
            > "$SCRATCH/merge-$target.txt" 2>&1 || { tail -n 20 "$SCRATCH/merge-$target.txt"; return 1; }
        rm -rf "Fuzz/corpus/$target" && mv "$new" "Fuzz/corpus/$target" && chmod 755 "Fuzz/corpus/$target"
        echo "$target: corpus $(ls "Fuzz/corpus/$target" | wc -l) files, $(du -sk "Fuzz/corpus/$target" | cut -f1) KiB"
    done
}

run() {
    local passed=0 failed=0 target dir log rc executions rate crashes limits regressions
    for target in $TARGETS; do
        dir=$WORK/$target
        log=$dir/fuzz.log
        mkdir -p "$dir/corpus" "Fuzz/corpus/$target"
        # A heartbeat is at most 200 bytes: 1 KiB holds a session of them and
        # keeps the fuzzer from growing inputs of dozens (and a tenth the speed).
        case $target in FuzzHeartbeat) limits="-max_len=1024" ;; *) limits="" ;; esac
        # New inputs go to the work corpus (first directory); the repository's
        # corpus and the inputs of crashes fixed (Fuzz/regressions, kept
        # out of the corpus so that merging never drops them) are only read.
        regressions=""
        [ -d "Fuzz/regressions/$target" ] && regressions="Fuzz/regressions/$target"
        # shellcheck disable=SC2086
        timeout -s KILL $((SECONDS_PER_TARGET + 120)) "$BIN/$target" "$dir/corpus" "Fuzz/corpus/$target" $regressions \
            -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=10 \
            -artifact_prefix="$dir/" $limits ${FUZZ_FLAGS:-} > "$log" 2>&1
        rc=$?
        executions=$(grep -oE "^stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" | tail -1)
        [ -n "$executions" ] || executions=$(grep -oE "^#[0-9]+" "$log" | tail -1 | tr -d '#')
        rate=$(grep -oE "^stat::average_exec_per_sec: *[0-9]+" "$log" | grep -oE "[0-9]+$" | tail -1)
        crashes=$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
        if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]; then
            echo "ok $target: ${executions:-0} executions in ${SECONDS_PER_TARGET}s (${rate:-?}/s), 0 crashes, corpus $(ls "Fuzz/corpus/$target" | wc -l) files"
            passed=$((passed + 1))
        else
            echo "FAIL $target: ${executions:-0} executions, ${crashes} crashes (exit $rc), log $log"
            grep -E "^(==[0-9]+==ERROR|SUMMARY|Fatal error|.*precondition failed|artifact_prefix|Test unit written)" "$log" | head -n 8
            find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sed 's/^/  input: /'
            failed=$((failed + 1))
        fi
    done
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

mkdir -p "$SCRATCH"
case "${1:-run}" in
    build) build ;;
    seed) build && seed ;;
    merge) build && merge ;;
    run) if build; then run; else echo "0 passed, 1 failed"; exit 1; fi ;;
    *) echo "usage: $0 [run|build|seed|merge]" >&2; exit 2 ;;
esac
