# Shared pieces of the benchmark scripts: a Release build, an s3rver on loopback, and writing
# a section of docs/BENCHMARKS.md between markers.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build/bench
SHOAL=$BUILD/tools/shoal

# Serialized with flock: several benchmark scripts may share build/bench at once.
build_release() {
  "$ROOT/scripts/setup" >/dev/null
  mkdir -p "$BUILD"
  (
    flock 9
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOAL_TESTS=OFF >/dev/null
    cmake --build "$BUILD" --target shoal shoald -j "$(nproc)" >/dev/null
  ) 9>"$BUILD/.build.lock"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_s3rver DIR BUCKET → sets S3_PORT, S3_PID; stopped by stop_s3rver (also on exit).
start_s3rver() {
  S3_PORT=$(free_port)
  NODE_OPTIONS=--openssl-legacy-provider "$ROOT/.deps/node_modules/.bin/s3rver" \
    --directory "$1" --port "$S3_PORT" --address 127.0.0.1 --silent --configure-bucket "$2" \
    >"$1.log" 2>&1 &
  S3_PID=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/" && return 0
    sleep 0.1
  done
  echo "s3rver did not start: $(cat "$1.log")" >&2
  return 1
}
stop_s3rver() { [[ -n ${S3_PID:-} ]] && kill "$S3_PID" 2>/dev/null && { wait "$S3_PID" 2>/dev/null || true; }; S3_PID=; }

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
# curl signing like shoal (SigV4, the body unsigned): s3rver accepts any well-formed signature,
# but signed requests measurably cost it more than unsigned ones, so both clients sign.
CURL_SIGV4=(--aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")

# write_section NAME FILE: replaces the text between <!-- NAME:start --> and <!-- NAME:end -->
# in docs/BENCHMARKS.md with FILE's contents (appending the section when it is new).
write_section() {
  python3 - "$ROOT/docs/BENCHMARKS.md" "$1" "$2" <<'PY'
import sys, os, re
doc, name, body_file = sys.argv[1:4]
body = open(body_file).read().rstrip() + "\n"
start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
block = f"{start}\n{body}{end}"
if start in text:
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda m: block, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open(doc, "w").write(text)
PY
}
