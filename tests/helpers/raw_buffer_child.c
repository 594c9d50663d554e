/* switchboard: an embeddable C++ actor runtime. MIT License. */

/* A plain C program, without switchboard, that maps the shared buffer
 * "shared" its parent node passed, as conf/README.md ([buffers]) documents
 * the layout: SWITCHBOARD_BUFFERS lists NAME=FD:BYTES; the fd maps BYTES
 * of data from offset 0 (followed by 4096 bytes switchboard keeps for
 * itself); elements are waited on and woken with shared (not private)
 * futexes on their own address.
 *
 * It adds 1000 to the int64 at byte 0, then plays ROUNDS of ping-pong on the
 * int32 at byte 40 (the parent makes it odd, this program even), and prints
 * one JSON line. Usage: raw_buffer_child ROUNDS */

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long futex(int32_t* word, int op, int32_t val, struct timespec* t) {
  return syscall(SYS_futex, word, op, val, t, NULL, 0);
}

int main(int argc, char** argv) {
  const char* list = getenv("SWITCHBOARD_BUFFERS");
  const char* entry = list ? strstr(list, "shared=") : NULL;
  int fd;
  size_t bytes;
  if (argc != 2 || entry == NULL
      || sscanf(entry, "shared=%d:%zu", &fd, &bytes) != 2) {
    printf("{\"error\":\"no shared buffer\"}\n");
    return 1;
  }
  int32_t rounds = atoi(argv[1]);
  char* mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) {
    printf("{\"error\":\"mmap: %s\"}\n", strerror(errno));
    return 1;
  }
  int64_t* counter = (int64_t*) mem;
  int32_t* ball = (int32_t*) (mem + 40);
  for (int i = 0; i < 1000; ++i)
    __atomic_fetch_add(counter, 1, __ATOMIC_SEQ_CST);
  int stalls = 0;
  for (int32_t i = 0; i < rounds; ++i) {
    int32_t seen;
    while ((seen = __atomic_load_n(ball, __ATOMIC_SEQ_CST)) != 2 * i + 1) {
      struct timespec t = {10, 0};
      if (futex(ball, FUTEX_WAIT, seen, &t) != 0 && errno == ETIMEDOUT)
        ++stalls;
    }
    __atomic_store_n(ball, 2 * i + 2, __ATOMIC_SEQ_CST);
    futex(ball, FUTEX_WAKE, 1, NULL);
  }
  printf("{\"stalls\":%d,\"ball\":%d}\n", stalls,
         __atomic_load_n(ball, __ATOMIC_SEQ_CST));
  fflush(stdout);
  pause();
  return 0;
}
