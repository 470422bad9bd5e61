/*
 * The C library's bench client: the `lat` and `batch` (lock-step) tasks of the Rust
 * client (client.rs), through libfdagent instead of the Rust library, with the same
 * protocol with the parent (`ready`, `go`, `samples N` and N little-endian u64 ns) and
 * the same checks: every result must be an fd, and every VERIFY_EVERY-th operation an
 * untimed request reads the file and compares its contents.
 *
 *     clib_client lat kind=broker socket=S dir=D file=I cpu=C|all iters=N warm=W
 *     clib_client batch kind=broker socket=S dir=D file=I cpu=C|all b=B mode=lockstep files=N warm=W
 *
 * Built by rows/clib.rs: cc -O2 clib_client.c -I clients/c/include libfdagent.a ...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fdagent.h>

#define FILES 256
#define FILE_SIZE 4096
#define VERIFY_EVERY 1024
#define VERIFY_BATCH_EVERY 16

static void die(const char *what) {
    fprintf(stderr, "clib_client: %s: %s (errno %d)\n", what, fdagent_last_error(), fdagent_last_errno());
    exit(1);
}

/* The value of `key=` among the arguments. */
static const char *arg(int argc, char **argv, const char *key) {
    size_t len = strlen(key);
    for (int i = 2; i < argc; i++)
        if (strncmp(argv[i], key, len) == 0 && argv[i][len] == '=') return argv[i] + len + 1;
    fprintf(stderr, "clib_client: missing %s=\n", key);
    exit(1);
}

static uint64_t num(int argc, char **argv, const char *key) {
    return strtoull(arg(argc, argv, key), NULL, 10);
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Reads `fd` and compares it with data file `i`'s contents (client.rs: file_contents). */
static void check_contents(int fd, size_t i) {
    static char buf[FILE_SIZE + 1];
    size_t got = 0;
    ssize_t n;
    while ((n = read(fd, buf + got, sizeof buf - got)) > 0) got += (size_t)n;
    if (got != FILE_SIZE) die("the fd handed out reads the wrong size");
    for (size_t k = 0; k < FILE_SIZE; k++)
        if (buf[k] != (char)('a' + i % 26)) die("the fd handed out reads the wrong contents");
}

static void ready_go(void) {
    char line[16];
    printf("ready\n");
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin) || strcmp(line, "go\n") != 0) die("expected go");
}

static void report(const uint64_t *samples, size_t n) {
    printf("samples %zu\n", n);
    fwrite(samples, sizeof *samples, n, stdout); /* little-endian: x86-64 and arm64 */
    fflush(stdout);
}

static int open_one(fdagent *agent, const char *path) {
    int fd = fdagent_open(agent, path, FDAGENT_READ, 0600);
    if (fd < 0) die(path);
    return fd;
}

static void lat(fdagent *agent, const char *dir, size_t file, uint64_t iters, uint64_t warm) {
    char path[4096];
    snprintf(path, sizeof path, "%s/f%03zu", dir, file);
    for (uint64_t i = 0; i < warm; i++) close(open_one(agent, path));
    int fd = open_one(agent, path);
    check_contents(fd, file);
    close(fd);
    uint64_t *samples = malloc(iters * sizeof *samples);
    if (!samples) die("malloc");
    ready_go();
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t t = now_ns();
        close(open_one(agent, path));
        samples[i] = now_ns() - t;
        if (i % VERIFY_EVERY == VERIFY_EVERY - 1) {
            fd = open_one(agent, path);
            check_contents(fd, file);
            close(fd);
        }
    }
    report(samples, iters);
}

static void batch(fdagent *agent, const char *dir, size_t b, uint64_t files, uint64_t warm_files) {
    /* The file list twice over, so every batch is one contiguous slice, as in client.rs. */
    static char names[2 * FILES][4096];
    static const char *paths[2 * FILES];
    for (size_t i = 0; i < 2 * FILES; i++) {
        snprintf(names[i], sizeof names[i], "%s/f%03zu", dir, i % FILES);
        paths[i] = names[i];
    }
    uint64_t batches = (files + b - 1) / b, warm = (warm_files + b - 1) / b;
    uint64_t *samples = malloc(batches * sizeof *samples);
    int *fds = malloc(b * sizeof *fds), *errnos = malloc(b * sizeof *errnos);
    if (!samples || !fds || !errnos) die("malloc");
    size_t next = 0;
    for (uint64_t i = 0; i < warm + batches; i++) {
        if (i == warm) ready_go();
        size_t first = next;
        next = (next + b) % FILES;
        uint64_t t = now_ns();
        if (fdagent_open_many(agent, &paths[first], b, FDAGENT_READ, 0600, fds, errnos) != 0)
            die("open_many");
        for (size_t k = 0; k < b; k++)
            if (fds[k] < 0) die(paths[first + k]);
        uint64_t timed = now_ns() - t;
        if (i % VERIFY_BATCH_EVERY == VERIFY_BATCH_EVERY - 1) {
            int fd = dup(fds[0]);
            if (fd < 0) die("dup");
            check_contents(fd, first);
            close(fd);
        }
        t = now_ns();
        for (size_t k = 0; k < b; k++) close(fds[k]);
        if (i >= warm) samples[i - warm] = timed + (now_ns() - t);
    }
    report(samples, batches);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: clib_client lat|batch key=value...\n");
        return 64;
    }
    const char *cpu = arg(argc, argv, "cpu");
    if (strcmp(cpu, "all") != 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(atoi(cpu), &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
    }
    if (strcmp(arg(argc, argv, "kind"), "broker") != 0) die("only kind=broker");
    fdagent *agent = fdagent_connect(arg(argc, argv, "socket"), 0);
    if (!agent) die("connect");
    const char *dir = arg(argc, argv, "dir");
    if (strcmp(argv[1], "lat") == 0) {
        lat(agent, dir, (size_t)num(argc, argv, "file"), num(argc, argv, "iters"), num(argc, argv, "warm"));
    } else if (strcmp(argv[1], "batch") == 0) {
        size_t b = (size_t)num(argc, argv, "b");
        if (b == 0 || b > FDAGENT_MAX_BATCH || strcmp(arg(argc, argv, "mode"), "lockstep") != 0)
            die("b= out of range, or a mode other than lockstep");
        batch(agent, dir, b, num(argc, argv, "files"), num(argc, argv, "warm"));
    } else {
        die("unknown task");
    }
    fdagent_close(agent);
    return 0;
}
