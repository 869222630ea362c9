#!/usr/bin/env bash
# Fuzzes the OpenAI⇄Gemini and Anthropic⇄Gemini translation (src/translate/), the HTTP/1.1 parsers of client
# requests and upstream answers, the decoding of client names (common/names, proxy/wire) and
# the undoing of upstream content codings (upstream/content_coding)
# with libFuzzer, ASan and UBSan.
#   scripts/fuzz.sh [seconds]     each target runs this long (default 60)
# Needs clang++ and the libFuzzer/sanitizer runtimes (Debian: clang, libclang-rt-14-dev),
# which scripts/install-deps.sh installs. Builds in $FUZZ_DIR (default build-fuzz/) from
# the sources directly, not through CMake. Corpora persist in $FUZZ_DIR/corpus/<target>;
# a crash leaves its input in $FUZZ_DIR and fails the script.
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${FUZZ_DIR:-$root/build-fuzz}"
cxx="${CXX_FUZZ:-clang++}"

command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found (apt-get install clang)" >&2; exit 1; }

flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -DBOOST_JSON_NO_LIB -DBOOST_CONTAINER_NO_LIB -I "$root/src")

mkdir -p "$out/obj"
# Boost.JSON's sources once (the slow part), then the translator's and the parsers'.
objs=()
build_obj() {  # source → object, rebuilt when the source or a header it may use is newer
  local src="$1" obj="$out/obj/$(basename "${1%.cc}").o"
  if [[ ! -f "$obj" || "$src" -nt "$obj" ]] || \
     [[ -n "$(find "$root/src/common" "$root/src/translate" "$root/src/upstream" "$root/src/proxy" "$root/src/keypool" -name '*.h' -newer "$obj" 2>/dev/null)" ]]; then
    "$cxx" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj" &
  fi
  objs+=("$obj")
}
build_obj "$root/src/common/boost_json.cc"
for src in "$root"/src/translate/*.cc "$root/src/upstream/answer_parser.cc" \
           "$root/src/common/http_parse.cc" "$root/src/common/request_parser.cc" \
           "$root/src/common/names.cc" "$root/src/common/model_aliases.cc" "$root/src/proxy/wire.cc" \
           "$root/src/upstream/content_coding.cc"; do
  build_obj "$src"
done
wait

status=0
for target in translate_request_fuzz sse_reader_fuzz answer_parser_fuzz request_parser_fuzz names_fuzz \
              content_coding_fuzz anthropic_request_fuzz anthropic_stream_fuzz \
              responses_request_fuzz responses_stream_fuzz images_fuzz; do
  echo "== $target: building"
  "$cxx" "${flags[@]}" "$root/fuzz/$target.cc" "${objs[@]}" -lz -o "$out/$target"
  corpus="$out/corpus/$target"
  mkdir -p "$corpus"
  seeds=()
  if [[ $target == translate_request_fuzz ]]; then
    seeds=("$root/tests/fixtures/translate/request" "$root/tests/fixtures/translate/response")
  elif [[ $target == anthropic_request_fuzz ]]; then
    seeds=("$root/tests/fixtures/translate/anthropic_request" "$root/tests/fixtures/translate/anthropic_response")
  elif [[ $target == responses_request_fuzz ]]; then
    seeds=("$root/tests/fixtures/translate/responses_request" "$root/tests/fixtures/translate/responses_response")
  fi
  # The translate targets read JSON, and the SSE one JSON inside events: one dictionary
  # serves both; the HTTP parsers go without.
  dict=()
  [[ $target != *_parser_fuzz && $target != names_fuzz && $target != content_coding_fuzz ]] && dict=(-dict="$root/fuzz/translate.dict")
  echo "== $target: running for ${seconds}s"
  if ! (cd "$out" && "./$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
          -max_len=65536 "${dict[@]}" -print_final_stats=1 "$corpus" "${seeds[@]}" 2>"$out/$target.log"); then
    echo "== $target: FAILED (log: $out/$target.log)" >&2
    tail -n 40 "$out/$target.log" >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$out/$target.log" || true
  fi
done
exit $status
