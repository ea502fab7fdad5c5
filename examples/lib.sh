# Sourced by the example scripts (ROOT set to the repository): the binaries and the cleanup they
# share.

# Sets SHOAL: binaries already built in $SHOAL_BUILD, else a Release build into build/demo.
use_shoal() {
  if [[ -z ${SHOAL_BUILD:-} ]]; then
    "$ROOT/scripts/setup" >/dev/null
    SHOAL_BUILD=$ROOT/build/demo
    cmake -S "$ROOT" -B "$SHOAL_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOAL_TESTS=OFF >/dev/null
    cmake --build "$SHOAL_BUILD" --target shoal shoald -j "$(nproc)" >/dev/null
  fi
  SHOAL=$SHOAL_BUILD/tools/shoal
}

# The EXIT trap: stops the writer ($WRITER_PID), unmounts $MNT, removes $WORK.
example_cleanup() {
  [[ -n ${WRITER_PID:-} ]] && kill "$WRITER_PID" 2>/dev/null && { wait "$WRITER_PID" || true; }
  if grep -q " $MNT " /proc/mounts; then "$SHOAL" umount --lazy "$MNT" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
