// Reads every file of a list once, whole, from THREADS threads taking the next path in list
// order, and prints "FILES BYTES SECONDS". The reader of bench/fast_store_bench.sh: the same
// program for a shoal mount and for tmpfs, in C so that its own cost per file stays small
// beside the client's. Only the reads are timed; the list is loaded first. A file that cannot
// be opened or read ends the run with exit status 1.
// Usage: read_list LIST_FILE THREADS [ROOT]   (paths in LIST_FILE are relative to ROOT)
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char** paths;
static size_t count;
static atomic_size_t next_path;
static atomic_ullong total_bytes;
static atomic_int failed;
static int root_fd = AT_FDCWD;

static void* reader(void* arg) {
  (void)arg;
  char* buffer = malloc(1 << 20);
  for (;;) {
    size_t i = atomic_fetch_add(&next_path, 1);
    if (i >= count || atomic_load(&failed)) break;
    int fd = openat(root_fd, paths[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      fprintf(stderr, "read_list: cannot open %s\n", paths[i]);
      atomic_store(&failed, 1);
      break;
    }
    unsigned long long bytes = 0;
    ssize_t n;
    while ((n = read(fd, buffer, 1 << 20)) > 0) bytes += (unsigned long long)n;
    if (n < 0) {
      fprintf(stderr, "read_list: error reading %s\n", paths[i]);
      atomic_store(&failed, 1);
    }
    close(fd);
    atomic_fetch_add(&total_bytes, bytes);
  }
  free(buffer);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: read_list LIST_FILE THREADS [ROOT]\n");
    return 2;
  }
  FILE* list = fopen(argv[1], "r");
  if (list == NULL) {
    perror(argv[1]);
    return 2;
  }
  int threads = atoi(argv[2]);
  if (argc > 3 && (root_fd = open(argv[3], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    perror(argv[3]);
    return 2;
  }
  size_t capacity = 1024;
  paths = malloc(capacity * sizeof *paths);
  char* line = NULL;
  size_t line_capacity = 0;
  ssize_t length;
  while ((length = getline(&line, &line_capacity, list)) > 0) {
    if (line[length - 1] == '\n') line[--length] = '\0';
    if (length == 0) continue;
    if (count == capacity) paths = realloc(paths, (capacity *= 2) * sizeof *paths);
    paths[count++] = strdup(line);
  }
  fclose(list);
  pthread_t* ids = calloc((size_t)threads, sizeof *ids);
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (int t = 0; t < threads; ++t) pthread_create(&ids[t], NULL, reader, NULL);
  for (int t = 0; t < threads; ++t) pthread_join(ids[t], NULL);
  clock_gettime(CLOCK_MONOTONIC, &end);
  if (atomic_load(&failed)) return 1;
  double seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
  printf("%zu %llu %.3f\n", count, (unsigned long long)atomic_load(&total_bytes), seconds);
  return 0;
}
