#!/usr/bin/env bash
# The whole test suite: unit tests (Swift Testing, virtual clock, no sockets),
# then real processes on loopback, then the test fixtures and configs.
# Prints one closing line "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
status=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# Each stage's heading says when it started, for finding where CI's time goes.
stage() { echo; echo "=== $* (at $((SECONDS / 60)) min $((SECONDS % 60)) s)"; }

stage "build"
if ! swift build --build-tests > "$log/build.txt" 2>&1; then
    tail -n 60 "$log/build.txt"
    echo "build failed"; echo "tests: 0 passed, 1 failed"; exit 1
fi
tail -n 2 "$log/build.txt"

stage "unit tests (swift test)"
swift test 2>&1 | tee "$log/swift.txt" | grep -E "✘|Test run|error:" || true
swift_rc=${PIPESTATUS[0]}
swift_total=$(grep -oE "Test run with [0-9]+ tests" "$log/swift.txt" | grep -oE "[0-9]+" | tail -1)
swift_failed=$(grep -cE "^✘ Test .* failed" "$log/swift.txt" || true)
swift_total=${swift_total:-0}
if [ "$swift_rc" -ne 0 ] && [ "$swift_failed" -eq 0 ]; then swift_failed=1; fi
passed=$((passed + swift_total - swift_failed))
failed=$((failed + swift_failed))
[ "$swift_rc" -eq 0 ] || status=1

run_pytest() {
    local name=$1; shift
    stage "$name"
    python3 -m pytest -q -p no:cacheprovider "$@" 2>&1 | tee "$log/py.txt" | tail -n 25
    local rc=${PIPESTATUS[0]}
    local p f e
    p=$(grep -oE "[0-9]+ passed" "$log/py.txt" | tail -1 | grep -oE "[0-9]+" || true)
    f=$(grep -oE "[0-9]+ failed" "$log/py.txt" | tail -1 | grep -oE "[0-9]+" || true)
    e=$(grep -oE "[0-9]+ error" "$log/py.txt" | tail -1 | grep -oE "[0-9]+" || true)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0} + ${e:-0}))
    if [ "$rc" -ne 0 ]; then
        status=1
        [ -n "$f$e" ] || failed=$((failed + 1))
    fi
}

run_pytest "processes on loopback" Tests/integration
for dir in Tests/pg Tests/standin Tests/lab; do
    [ -d "$dir" ] && run_pytest "$dir" "$dir"
done
if [ -x conf/nginx/test-nginx-conf.sh ]; then
    stage "nginx site config"
    if conf/nginx/test-nginx-conf.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
fi

# Shell test scripts that close with "N passed, M failed" (ok/FAIL lines above).
run_checks() {
    local name=$1; shift
    stage "$name"
    local rc=0 line p f
    "$@" > "$log/checks.txt" 2>&1 || rc=$?
    grep -vE "^ok " "$log/checks.txt" || true
    line=$(grep -E "^[0-9]+ passed, [0-9]+ failed$" "$log/checks.txt" | tail -1)
    p=$(cut -d' ' -f1 <<<"$line"); f=$(cut -d' ' -f3 <<<"$line")
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    # A script that reports failures fails the run even if it exited 0.
    if [ "${f:-0}" -gt 0 ]; then status=1; fi
    if [ "$rc" -ne 0 ]; then
        status=1
        [ "${f:-0}" -gt 0 ] || failed=$((failed + 1))
    fi
}
# libFuzzer targets (scripts/fuzz.sh, Fuzz/): each runs FUZZ_SECONDS (20 s
# here) from its corpus, one check per target; a crash input stays in
# .build-fuzz/work-ci/<target>/. The first build of the targets takes ~3 min.
rm -rf .build-fuzz/work-ci
run_checks "fuzz targets (scripts/fuzz.sh)" \
    env FUZZ_SECONDS="${FUZZ_SECONDS:-20}" FUZZ_WORK=.build-fuzz/work-ci scripts/fuzz.sh

# make install / make deb / the units under a real systemd (Tests/install;
# they install the debug build above).
for t in Tests/install/test_install.sh Tests/install/test_deb.sh Tests/install/test_systemd.sh; do
    [ -x "$t" ] && run_checks "$t" "$t"
done

# The deployment: Ansible syntax and lint, rendered templates, the mtail
# program, Prometheus and Grafana files (tools from scripts/deploy-deps.sh),
# and site.yml run for real on two sandboxes with systemd in the default,
# replicated layout, short version (replicated_playbook.sh, PLAYBOOK_QUICK=1;
# the full one and the local layout's test_playbook.sh: make deploy-test).
stage "deployment tools"
if scripts/deploy-deps.sh; then
    for t in Tests/deploy/test_ansible.sh Tests/deploy/test_observability.sh; do
        [ -x "$t" ] && run_checks "$t" "$t"
    done
    run_checks "Tests/deploy/replicated_playbook.sh (quick)" env PLAYBOOK_QUICK=1 bash Tests/deploy/replicated_playbook.sh
else
    echo "deploy-deps.sh failed"; failed=$((failed + 1)); status=1
fi

echo
echo "(all stages: $((SECONDS / 60)) min $((SECONDS % 60)) s)"
echo "tests: $passed passed, $failed failed"
exit $status
