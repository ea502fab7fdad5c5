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

# write_tree ROOT FILES SIZE: FILES files of SIZE bytes in 100 directories d000…d099, named
# img-NNNNNN.jpg, each with distinct bytes.
write_tree() {
  echo "writing $2 files of $3 bytes to $1"
  python3 - "$1" "$2" "$3" <<'PY'
import os, sys
root, files, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = os.urandom(size + 4096)
for i in range(files):
    d = f"{root}/d{i % 100:03d}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/img-{i:06d}.jpg", "wb") as f:
        f.write(block[i % 4096:i % 4096 + size])  # distinct bytes per file, cheaply
PY
}

# start_fast_store WORK: nginx (one worker, static files, sendfile) serving WORK/www as
# path-style `bucket/key` with Range, ETag and If-Match on FAST_PORT, and with 10 ms added per
# request by the echo module's `echo_sleep` (no proxy in the way) on SLOW_PORT. Sets FAST_PORT,
# SLOW_PORT, NGINX_PID, NGINX_WORKER; `endpoint_of DELAY_MS` (0 or 10) names the server. The
# caller stops it (kill "$NGINX_PID").
start_fast_store() {
  local work=$1
  FAST_PORT=$(free_port); SLOW_PORT=$(free_port)
  cat >"$work/nginx.conf" <<END
load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;
user root;  # the work directory is private to root
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.error.log;
daemon off;
events { worker_connections 8192; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$FAST_PORT; root $work/www; }
  server {
    listen 127.0.0.1:$SLOW_PORT;
    location / { echo_sleep 0.010; echo_exec /__static\$uri; }
    location /__static/ { internal; alias $work/www/; }
  }
}
END
  nginx -c "$work/nginx.conf" -p "$work" &
  NGINX_PID=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$FAST_PORT/" && break; sleep 0.1; done
  NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)
}
endpoint_of() { [[ $1 == 0 ]] && echo "http://127.0.0.1:$FAST_PORT" || echo "http://127.0.0.1:$SLOW_PORT"; }

# nginx_manifests BUCKET_DIR WORK TREE_FILES N…: for each N, WORK/manifest-N.csv of the first N
# files of write_tree's tree under train/ with nginx's ETags (`"<hex mtime>-<hex size>"`), and
# WORK/order-N, one shuffle of them (paths under train/), the read order every client uses.
nginx_manifests() {
  python3 - "$@" <<'PY'
import datetime, os, random, sys
bucket, work, tree_files = sys.argv[1], sys.argv[2], int(sys.argv[3])
sets = sorted({int(n) for n in sys.argv[4:]})
keys = [f"train/d{i % 100:03d}/img-{i:06d}.jpg" for i in range(tree_files)]
for n in sets:
    subset = sorted(keys[:n])
    with open(f"{work}/manifest-{n}.csv", "w") as m:
        m.write("key,size,etag,mtime\n")
        for k in subset:
            st = os.stat(f"{bucket}/{k}")
            mtime = datetime.datetime.fromtimestamp(int(st.st_mtime), datetime.timezone.utc)
            m.write(f'{k},{st.st_size},"""{int(st.st_mtime):x}-{st.st_size:x}""",'
                    f'{mtime.strftime("%Y-%m-%dT%H:%M:%SZ")}\n')
    order = list(subset)
    random.Random(1).shuffle(order)
    with open(f"{work}/order-{n}", "w") as o:
        o.write("\n".join(k.removeprefix("train/") for k in order) + "\n")
PY
}

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
