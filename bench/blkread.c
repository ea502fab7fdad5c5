// blkread: O_DIRECT reads of a block device, the small reader bench/transport_bench.sh runs in
// the QEMU guest instead of fio (whose Debian package drags in ceph, rdma and gluster
// libraries). Built static, so the guest needs nothing else.
//
//   blkread warm DEV                     one sequential pass over the whole device, 1 MiB reads
//   blkread rand4k DEV SECONDS THREADS   random 4 KiB reads at 4 KiB-aligned offsets
//   blkread seq1m DEV SECONDS THREADS    1 MiB reads, each thread streaming through its own
//                                        slice of the device and starting over at its end
//
// O_DIRECT keeps the guest's page cache out of it: every read reaches the transport. Each thread
// has its own descriptor and one read in flight, so THREADS is the queue depth. Prints one line:
//   mode=rand4k bytes=N ops=N seconds=S
// and exits 1 on any failed or short read.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

enum { kBlock = 4096, kMiB = 1 << 20, kMaxThreads = 256 };

struct worker {
  const char* device;
  uint64_t device_bytes;
  int index;
  int threads;
  int random_4k;
  double deadline;  // CLOCK_MONOTONIC seconds; 0: one pass (warm)
  uint64_t bytes;
  uint64_t ops;
};

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char* what, const char* device, uint64_t offset, int err) {
  fprintf(stderr, "blkread: %s %s at offset %llu: %s\n", what, device,
          (unsigned long long)offset, err ? strerror(err) : "short read");
  exit(1);
}

static uint64_t next_random(uint64_t* state) {  // xorshift64
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

static void read_exactly(int fd, void* buffer, size_t length, uint64_t offset, struct worker* w) {
  ssize_t n = pread(fd, buffer, length, (off_t)offset);
  if (n < 0) die("reading", w->device, offset, errno);
  if ((size_t)n != length) die("reading", w->device, offset, 0);
  w->bytes += length;
  w->ops += 1;
}

static void* run_worker(void* arg) {
  struct worker* w = arg;
  int fd = open(w->device, O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) die("opening", w->device, 0, errno);
  void* buffer = NULL;
  if (posix_memalign(&buffer, kBlock, kMiB) != 0)
    die("allocating a buffer for", w->device, 0, ENOMEM);
  if (w->random_4k) {
    uint64_t blocks = w->device_bytes / kBlock;
    uint64_t state = 0x9e3779b97f4a7c15ull * (uint64_t)(w->index + 1);
    while (now_seconds() < w->deadline)
      read_exactly(fd, buffer, kBlock, next_random(&state) % blocks * kBlock, w);
  } else {
    // Slices of whole MiBs; the last thread's slice runs to the device's end.
    uint64_t slice = w->device_bytes / kMiB / (uint64_t)w->threads * kMiB;
    uint64_t begin = slice * (uint64_t)w->index;
    uint64_t end = w->index == w->threads - 1 ? w->device_bytes : begin + slice;
    uint64_t offset = begin;
    for (;;) {
      if (w->deadline > 0 && now_seconds() >= w->deadline) break;
      uint64_t length = end - offset < kMiB ? end - offset : kMiB;
      read_exactly(fd, buffer, (size_t)length, offset, w);
      offset += length;
      if (offset < end) continue;
      if (w->deadline == 0) break;
      offset = begin;
    }
  }
  free(buffer);
  close(fd);
  return NULL;
}

static uint64_t device_size(const char* device) {
  int fd = open(device, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("opening", device, 0, errno);
  uint64_t bytes = 0;
  if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) die("BLKGETSIZE64 on", device, 0, errno);
  close(fd);
  if (bytes < kMiB || bytes % kBlock != 0) die("unusable size of", device, bytes, EINVAL);
  return bytes;
}

static int usage(void) {
  fprintf(stderr,
          "usage: blkread warm DEV | blkread rand4k DEV SECONDS THREADS | "
          "blkread seq1m DEV SECONDS THREADS\n");
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const char* mode = argv[1];
  int warm = strcmp(mode, "warm") == 0;
  int random_4k = strcmp(mode, "rand4k") == 0;
  if (!warm && !random_4k && strcmp(mode, "seq1m") != 0) return usage();
  if (warm ? argc != 3 : argc != 5) return usage();
  double seconds = warm ? 0 : atof(argv[3]);
  int threads = warm ? 1 : atoi(argv[4]);
  if ((!warm && seconds <= 0) || threads < 1 || threads > kMaxThreads) return usage();

  struct worker workers[kMaxThreads];
  pthread_t ids[kMaxThreads];
  uint64_t bytes = device_size(argv[2]);
  double start = now_seconds();
  for (int i = 0; i < threads; ++i) {
    workers[i] = (struct worker){argv[2], bytes, i, threads, random_4k,
                                 warm ? 0 : start + seconds, 0, 0};
    if (pthread_create(&ids[i], NULL, run_worker, &workers[i]) != 0) {
      fprintf(stderr, "blkread: cannot start thread %d\n", i);
      return 1;
    }
  }
  uint64_t total_bytes = 0, total_ops = 0;
  for (int i = 0; i < threads; ++i) {
    pthread_join(ids[i], NULL);
    total_bytes += workers[i].bytes;
    total_ops += workers[i].ops;
  }
  printf("mode=%s bytes=%llu ops=%llu seconds=%.3f\n", mode, (unsigned long long)total_bytes,
         (unsigned long long)total_ops, now_seconds() - start);
  return 0;
}
