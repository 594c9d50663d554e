// switchboard: an embeddable C++ actor runtime. MIT License.

// A small child process for the child-process tests. The first argument
// picks what it does:
//   echo              echoes stdin lines to stdout
//   echo-lp           echoes length-prefixed frames
//   count             counts stdin lines until EOF, then prints {"lines":N}
//   stderr TEXT       writes TEXT to stderr, then echoes like `echo`
//   exit N            exits with code N at once
//   answer-then-exit  reads one line, exits 1 without answering
//   garbage           prints a line that is not JSON, then echoes
//   huge N            prints one line of N bytes (a JSON string), then waits
//   ignore-term       ignores SIGTERM and waits
//   pid-file PATH     writes its pid to PATH, then waits
//   env NAME          prints the JSON string value of $NAME (or null)
//   swap              reads lines in pairs and answers each pair in reverse
//   grow N            touches N bytes of memory, then echoes
//   threads N         starts up to N threads that wait, and exits with the
//                     number it could start (pids.max stops the rest)
//   spin MS           keeps a core busy for MS milliseconds of wall time
//   binary-garbage    on SWITCHBOARD_CHANNEL_FD (ipc = "binary"): frames
//                     that are not messages, then one that is: the string
//                     "still here", encoded by hand in CAF's format

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <pthread.h>
#include <time.h>
#include <unistd.h>

namespace {

void echo_lines() {
  char* line = nullptr;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) > 0) {
    fwrite(line, 1, static_cast<size_t>(n), stdout);
    fflush(stdout);
  }
  free(line);
}

bool read_all(void* p, size_t n) {
  return fread(p, 1, n, stdin) == n;
}

void wait_forever() {
  for (;;)
    pause();
}

// One length-prefixed frame.
void write_frame(int fd, const std::string& payload) {
  auto n = payload.size();
  std::string out{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                  static_cast<char>(n >> 8), static_cast<char>(n)};
  out += payload;
  if (write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size()))
    exit(1);
}

// A binary channel frame: kind byte, u64 id, then a message whose type
// names are `types` and whose encoded elements are `body`.
std::string binary_frame(char kind, const std::string& types,
                         const std::string& body) {
  std::string f{kind};
  f.append(8, '\0');                    // id
  f.append(2, '\0');                    // object number 0
  f += static_cast<char>(types.size()); // varint (< 128)
  f += types;
  return f + body;
}

} // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "echo";
  if (mode == "echo") {
    echo_lines();
  } else if (mode == "echo-lp") {
    unsigned char hdr[4];
    std::string buf;
    while (read_all(hdr, 4)) {
      size_t len = (size_t{hdr[0]} << 24) | (size_t{hdr[1]} << 16)
                   | (size_t{hdr[2]} << 8) | hdr[3];
      buf.resize(len);
      if (len > 0 && !read_all(buf.data(), len))
        return 1;
      fwrite(hdr, 1, 4, stdout);
      fwrite(buf.data(), 1, len, stdout);
      fflush(stdout);
    }
  } else if (mode == "count") {
    char* line = nullptr;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, stdin) > 0)
      ++n;
    free(line);
    printf("{\"lines\":%d}\n", n);
  } else if (mode == "stderr" && argc > 2) {
    fprintf(stderr, "%s\n", argv[2]);
    fflush(stderr);
    echo_lines();
  } else if (mode == "exit" && argc > 2) {
    return atoi(argv[2]);
  } else if (mode == "answer-then-exit") {
    char* line = nullptr;
    size_t cap = 0;
    getline(&line, &cap, stdin);
    free(line);
    return 1;
  } else if (mode == "binary-garbage") {
    auto var = getenv("SWITCHBOARD_CHANNEL_FD");
    if (var == nullptr)
      return 2;
    int fd = atoi(var);
    write_frame(fd, "abc");                                     // too short
    write_frame(fd, binary_frame('\x07', "@<>+@str", "\x01x")); // bad kind
    // A byte vector that claims 4 GiB.
    write_frame(fd, binary_frame('\0', "@<>+@charbuf", "\xff\xff\xff\xff\x0f"));
    write_frame(fd, binary_frame('\0', "@<>+@nosuchtype", ""));
    write_frame(fd, binary_frame('\0', "@<>+@str", "\x0astill here"));
    wait_forever();
  } else if (mode == "garbage") {
    printf("this is not json\n");
    fflush(stdout);
    echo_lines();
  } else if (mode == "huge" && argc > 2) {
    auto n = static_cast<size_t>(atol(argv[2]));
    std::string s(n, 'x');
    printf("\"%s\"\n", s.c_str());
    fflush(stdout);
    wait_forever();
  } else if (mode == "ignore-term") {
    signal(SIGTERM, SIG_IGN);
    printf("\"ready\"\n");
    fflush(stdout);
    wait_forever();
  } else if (mode == "pid-file" && argc > 2) {
    auto tmp = std::string{argv[2]} + ".tmp";
    if (auto f = fopen(tmp.c_str(), "w")) {
      fprintf(f, "%d\n", static_cast<int>(getpid()));
      fclose(f);
      rename(tmp.c_str(), argv[2]);
    }
    wait_forever();
  } else if (mode == "env" && argc > 2) {
    auto v = getenv(argv[2]);
    if (v)
      printf("\"%s\"\n", v);
    else
      printf("null\n");
    fflush(stdout);
    echo_lines();
  } else if (mode == "swap") {
    char* line = nullptr;
    size_t cap = 0;
    std::string first;
    while (getline(&line, &cap, stdin) > 0) {
      if (first.empty()) {
        first = line;
        continue;
      }
      fputs(line, stdout);
      fputs(first.c_str(), stdout);
      fflush(stdout);
      first.clear();
    }
    free(line);
  } else if (mode == "grow" && argc > 2) {
    auto n = static_cast<size_t>(atol(argv[2]));
    auto p = static_cast<char*>(malloc(n));
    for (size_t i = 0; i < n; i += 4096)
      p[i] = 1;
    echo_lines();
    free(p);
  } else if (mode == "threads" && argc > 2) {
    auto n = atoi(argv[2]);
    int made = 0;
    for (; made < n; ++made) {
      pthread_t t;
      auto waiter = [](void*) -> void* {
        wait_forever();
        return nullptr;
      };
      if (pthread_create(&t, nullptr, waiter, nullptr) != 0)
        break;
    }
    _exit(made);
  } else if (mode == "spin" && argc > 2) {
    auto now_ms = [] {
      timespec ts{};
      clock_gettime(CLOCK_MONOTONIC, &ts);
      return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
    };
    auto end = now_ms() + atol(argv[2]);
    volatile unsigned long x = 0;
    while (now_ms() < end)
      for (int i = 0; i < 10000; ++i)
        x = x + 1;
  } else {
    fprintf(stderr, "child_helper: unknown mode %s\n", mode.c_str());
    return 2;
  }
  return 0;
}
