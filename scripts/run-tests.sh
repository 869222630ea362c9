#!/usr/bin/env bash
# Runs every test: the C++ unit tests (ctest), the mock's own tests, and the end-to-end
# tests that start the real binary against the mock (node --test). Prints one closing
# line "N passed, N failed" over all of them; exits non-zero if anything failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
[[ "$build" = /* ]] || build="$root/$build"
cd "$root"

passed=0
failed=0

echo "== unit tests (ctest)"
ctest_out="$(cd "$build" && ctest --output-on-failure 2>&1)"
ctest_rc=$?
echo "$ctest_out" | tail -n 40
if line="$(echo "$ctest_out" | grep -E '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+')"; then
  total="$(echo "$line" | sed -E 's/.*out of ([0-9]+).*/\1/')"
  bad="$(echo "$line" | sed -E 's/.*passed, ([0-9]+) tests failed.*/\1/')"
  passed=$((passed + total - bad))
  failed=$((failed + bad))
else
  failed=$((failed + 1))
fi
[[ $ctest_rc == 0 ]] || echo "ctest exited $ctest_rc"

run_node() {
  local what="$1"; shift
  echo "== $what (node --test)"
  local out rc
  out="$(GKM_BIN="$build/gemini-key-manager" node --test --test-concurrency=1 --test-reporter=spec "$@" 2>&1)"
  rc=$?
  echo "$out" | tail -n 60
  local p f
  p="$(echo "$out" | grep -E '^ℹ pass [0-9]+' | awk '{print $3}' | tail -1)"
  f="$(echo "$out" | grep -E '^ℹ fail [0-9]+' | awk '{print $3}' | tail -1)"
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  if [[ $rc != 0 && ${f:-0} == 0 ]]; then failed=$((failed + 1)); fi
}

run_node "mock" tests/mock/
run_node "end-to-end" tests/e2e/

# The libFuzzer targets, briefly (make fuzz runs them longer): each counts as one test.
echo "== fuzz (scripts/fuzz.sh ${FUZZ_SECONDS:-10})"
if fuzz_out="$("$root/scripts/fuzz.sh" "${FUZZ_SECONDS:-10}" 2>&1)"; then
  passed=$((passed + $(echo "$fuzz_out" | grep -c ': running for')))
else
  failed=$((failed + 1))
fi
echo "$fuzz_out" | grep -E '^==|FAILED|crash' | tail -n 20

echo
echo "tests: $passed passed, $failed failed"
[[ $failed == 0 ]]
