/*
 * The C test of libfdagent, run by tests/integration/clib.rs as unprivileged uids
 * against a real broker. It is compiled against the installed header and library
 * (pkg-config), shared and static.
 *
 *     fdagent_test SOCKET one|many < EXPECTATIONS
 *         EXPECTATIONS: lines "ERRNO PATH" (PATH: any bytes but NUL and newline). Each
 *         path is opened for reading, one fdagent_open each (`one`) or all in one
 *         fdagent_open_many (`many`); ERRNO 0 means it opens, its fd is O_CLOEXEC and
 *         reads its own path. A refusal (EACCES) must come with the broker's reason.
 *     fdagent_test SOCKET threads < EXPECTATIONS
 *         as `one`, in four threads sharing one handle at once: each thread's errno and
 *         last error are its own
 *     fdagent_test SOCKET args     bad arguments: EINVAL (ENOENT for a missing socket),
 *                                  the connection still usable after them
 *     fdagent_test SOCKET gone < EXPECTATIONS
 *         connects, waits until the broker has removed SOCKET (it was stopped), then
 *         every call fails with an error, and fdagent_open_many leaves no fd open
 *
 * Every mode checks that no fd is left open in the end (/proc/self/fd) and prints "ok"
 * and exits 0, or prints what failed and exits 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fdagent.h>

static void fail(const char *what, const char *path) {
    fprintf(stderr, "FAIL: %s%s%s (last error: %d %s)\n", what, path ? ": " : "", path ? path : "",
            fdagent_last_errno(), fdagent_last_error());
    exit(1);
}

#define CHECK(cond, path)                      \
    do {                                       \
        if (!(cond)) fail(#cond, (path));      \
    } while (0)

/* Open fds of this process. */
static int fd_count(void) {
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) fail("opendir /proc/self/fd", NULL);
    int n = 0;
    while (readdir(dir)) n++;
    closedir(dir);
    return n;
}

/* The expectations on stdin. */
struct expected {
    size_t n;
    char **paths;
    int *errnos;
};

static struct expected read_expected(void) {
    struct expected e = {0, NULL, NULL};
    size_t cap = 0;
    char *line = NULL;
    size_t len = 0;
    ssize_t got;
    while ((got = getline(&line, &len, stdin)) > 0) {
        if (line[got - 1] == '\n') line[--got] = '\0';
        char *space = strchr(line, ' ');
        if (!space) fail("expectation without a space", line);
        if (e.n == cap) {
            cap = cap ? 2 * cap : 64;
            e.paths = realloc(e.paths, cap * sizeof *e.paths);
            e.errnos = realloc(e.errnos, cap * sizeof *e.errnos);
            if (!e.paths || !e.errnos) fail("realloc", NULL);
        }
        *space = '\0';
        e.errnos[e.n] = atoi(line);
        e.paths[e.n] = strdup(space + 1);
        e.n++;
    }
    free(line);
    return e;
}

/* Checks one result against its expectation, and closes the fd. */
static void check_result(const char *path, int want, int fd, int err) {
    if (want == 0) {
        if (fd < 0) {
            fprintf(stderr, "FAIL: %s: expected an fd, got errno %d (%s)\n", path, err, strerror(err));
            exit(1);
        }
        int flags = fcntl(fd, F_GETFD);
        CHECK(flags >= 0 && (flags & FD_CLOEXEC), path);
        char buf[4096];
        ssize_t got = read(fd, buf, sizeof buf);
        CHECK(got == (ssize_t)strlen(path) && memcmp(buf, path, (size_t)got) == 0, path);
        close(fd);
    } else if (fd >= 0 || err != want) {
        fprintf(stderr, "FAIL: %s: expected errno %d (%s), got fd %d errno %d\n", path, want,
                strerror(want), fd, err);
        exit(1);
    }
}

static void one(fdagent *agent, struct expected e) {
    for (size_t i = 0; i < e.n; i++) {
        errno = 0;
        int fd = fdagent_open(agent, e.paths[i], FDAGENT_READ, 0);
        int err = fd < 0 ? errno : 0;
        if (fd < 0) {
            CHECK(fdagent_last_errno() == err, e.paths[i]);
            CHECK(fdagent_last_error()[0] != '\0', e.paths[i]);
        }
        if (e.errnos[i] == EACCES && fd < 0)
            CHECK(strstr(fdagent_last_error(), "denied by the fdbroker policy") != NULL, e.paths[i]);
        check_result(e.paths[i], e.errnos[i], fd, err);
    }
}

static void many(fdagent *agent, struct expected e) {
    int *fds = malloc(e.n * sizeof *fds);
    int *errnos = malloc(e.n * sizeof *errnos);
    if (!fds || !errnos) fail("malloc", NULL);
    int rc = fdagent_open_many(agent, (const char *const *)e.paths, e.n, FDAGENT_READ, 0, fds, errnos);
    CHECK(rc == 0, NULL);
    for (size_t i = 0; i < e.n; i++) check_result(e.paths[i], e.errnos[i], fds[i], errnos[i]);
    free(fds);
    free(errnos);
}

struct job {
    fdagent *agent;
    struct expected e;
};

static void *run_one(void *arg) {
    struct job *job = arg;
    one(job->agent, job->e);
    return NULL;
}

static void threads(fdagent *agent, struct expected e) {
    pthread_t t[4];
    struct job job = {agent, e};
    for (int i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, run_one, &job) != 0) fail("pthread_create", NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
}

/* `call` failed with `want`, in its return value, errno and the last error. */
#define FAILS_WITH(call, bad, want)                                                       \
    do {                                                                                  \
        errno = 0;                                                                        \
        if ((call) != (bad) || errno != (want) || fdagent_last_errno() != (want) ||       \
            fdagent_last_error()[0] == '\0') {                                            \
            fprintf(stderr, "FAIL: %s: expected errno %d, got errno %d, last %d %s\n", \
                    #call, (want), errno, fdagent_last_errno(), fdagent_last_error());    \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

static void args(const char *socket) {
    int before = fd_count();
    FAILS_WITH(fdagent_connect("", 0), NULL, EINVAL);
    char missing[4200];
    snprintf(missing, sizeof missing, "%s.missing", socket);
    FAILS_WITH(fdagent_connect(missing, 0), NULL, ENOENT);
    CHECK(strstr(fdagent_last_error(), missing) != NULL, missing);

    fdagent *agent = fdagent_connect(socket, 10000);
    CHECK(agent != NULL, socket);
    FAILS_WITH(fdagent_ping(NULL), -1, EINVAL);
    FAILS_WITH(fdagent_open(NULL, "/x", FDAGENT_READ, 0), -1, EINVAL);
    FAILS_WITH(fdagent_open(agent, NULL, FDAGENT_READ, 0), -1, EINVAL);
    /* The broker's answer, with its reason. */
    FAILS_WITH(fdagent_open(agent, "", FDAGENT_READ, 0), -1, EINVAL);
    FAILS_WITH(fdagent_open(agent, "/x", 0x04u, 0), -1, EINVAL);
    FAILS_WITH(fdagent_open(agent, "/x", 0x100u, 0), -1, EINVAL);
    FAILS_WITH(fdagent_open(agent, "/x", FDAGENT_READ, 010000u), -1, EINVAL);

    const char *paths[3] = {"/a", NULL, "/c"};
    int fds[3], errnos[3];
    FAILS_WITH(fdagent_open_many(NULL, paths, 3, FDAGENT_READ, 0, fds, errnos), -1, EINVAL);
    FAILS_WITH(fdagent_open_many(agent, NULL, 3, FDAGENT_READ, 0, fds, errnos), -1, EINVAL);
    FAILS_WITH(fdagent_open_many(agent, paths, 3, FDAGENT_READ, 0, NULL, errnos), -1, EINVAL);
    FAILS_WITH(fdagent_open_many(agent, paths, 3, FDAGENT_READ, 0, fds, NULL), -1, EINVAL);
    fds[0] = fds[1] = fds[2] = 7;
    FAILS_WITH(fdagent_open_many(agent, paths, 3, FDAGENT_READ, 0, fds, errnos), -1, EINVAL);
    for (int i = 0; i < 3; i++) CHECK(fds[i] == -1 && errnos[i] == EINVAL, paths[0]);
    FAILS_WITH(fdagent_open_many(agent, paths, 3, 0x80u, 0, fds, errnos), -1, EINVAL);
    /* Nothing to open: done at once, whatever the arrays. */
    CHECK(fdagent_open_many(agent, NULL, 0, FDAGENT_READ, 0, NULL, NULL) == 0, NULL);
    /* An empty path in a batch fails on its own. */
    const char *with_empty[2] = {"", "relative"};
    CHECK(fdagent_open_many(agent, with_empty, 2, FDAGENT_READ, 0, fds, errnos) == 0, NULL);
    CHECK(fds[0] == -1 && errnos[0] == EINVAL && fds[1] == -1 && errnos[1] == EINVAL, NULL);

    /* None of it broke the connection. */
    CHECK(fdagent_ping(agent) == 0, socket);
    fdagent_close(agent);
    fdagent_close(NULL);
    CHECK(fd_count() == before, NULL);
}

/* Waits (polling, at most 20 s) until `socket` is gone: the broker was stopped. */
static void wait_gone(const char *socket) {
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 2000; i++) {
        if (access(socket, F_OK) != 0) return;
        nanosleep(&pause, NULL);
    }
    fail("the broker's socket is still there", socket);
}

static void gone(const char *socket, struct expected e) {
    int before = fd_count();
    fdagent *agent = fdagent_connect(socket, 10000);
    CHECK(agent != NULL, socket);
    /* No request before: the test stops the broker as soon as it holds the connection. */
    wait_gone(socket);

    int *fds = malloc(e.n * sizeof *fds);
    int *errnos = malloc(e.n * sizeof *errnos);
    if (!fds || !errnos) fail("malloc", NULL);
    errno = 0;
    CHECK(fdagent_open_many(agent, (const char *const *)e.paths, e.n, FDAGENT_READ, 0, fds, errnos) == -1, NULL);
    int err = errno;
    CHECK(err != 0 && fdagent_last_errno() == err && fdagent_last_error()[0] != '\0', NULL);
    for (size_t i = 0; i < e.n; i++) CHECK(fds[i] == -1 && errnos[i] == err, e.paths[i]);
    CHECK(fdagent_open(agent, e.paths[0], FDAGENT_READ, 0) == -1 && errno != 0, e.paths[0]);
    CHECK(fdagent_ping(agent) == -1 && errno != 0, NULL);
    fprintf(stderr, "after the broker went away: %s\n", fdagent_last_error());
    fdagent_close(agent);
    free(fds);
    free(errnos);
    CHECK(fd_count() == before, NULL);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: fdagent_test SOCKET one|many|threads|args|gone\n");
        return 64;
    }
    const char *socket = argv[1], *mode = argv[2];
    if (strcmp(mode, "args") == 0) {
        args(socket);
    } else if (strcmp(mode, "gone") == 0) {
        gone(socket, read_expected());
    } else {
        struct expected e = read_expected();
        int before = fd_count();
        fdagent *agent = fdagent_connect(socket, 10000);
        CHECK(agent != NULL, socket);
        if (strcmp(mode, "one") == 0)
            one(agent, e);
        else if (strcmp(mode, "many") == 0)
            many(agent, e);
        else if (strcmp(mode, "threads") == 0)
            threads(agent, e);
        else
            fail("unknown mode", mode);
        fdagent_close(agent);
        CHECK(fd_count() == before, NULL);
    }
    printf("ok\n");
    return 0;
}
