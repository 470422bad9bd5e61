/*
 * fdcat: prints files through fdbroker, like cat(1), asking for all of them at once.
 *
 *     cc fdcat.c -o fdcat $(pkg-config --cflags --libs fdagent)
 *     ./fdcat [--socket /run/fdbroker.sock] FILE...
 *
 * Exit status: 0 if every file was printed, 1 if some could not be, 69 if the broker is
 * unreachable, 64 for bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fdagent.h>

/* Copies all of `fd` to stdout; 0, or -1 with errno set. */
static int copy_out(int fd) {
    char buf[65536];
    for (;;) {
        ssize_t got = read(fd, buf, sizeof buf);
        if (got == 0) return 0;
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        for (ssize_t done = 0; done < got;) {
            ssize_t put = write(STDOUT_FILENO, buf + done, (size_t)(got - done));
            if (put < 0) {
                if (errno == EINTR) continue;
                return -1;
            }
            done += put;
        }
    }
}

int main(int argc, char **argv) {
    const char *socket = NULL; /* NULL: $FDBROKER_SOCKET, else /run/fdbroker.sock */
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "--socket") == 0) {
        socket = argv[2];
        first = 3;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: fdcat [--socket PATH] FILE...\n");
        return 64;
    }
    size_t n = (size_t)(argc - first);
    int *fds = calloc(n, sizeof *fds);
    int *errnos = calloc(n, sizeof *errnos);
    if (!fds || !errnos) {
        perror("fdcat");
        return 1;
    }

    fdagent *agent = fdagent_connect(socket, 30000);
    if (!agent) {
        fprintf(stderr, "fdcat: %s\n", fdagent_last_error());
        return 69;
    }
    /* One call for any number of paths: the library batches and pipelines them. */
    if (fdagent_open_many(agent, (const char *const *)&argv[first], n, FDAGENT_READ, 0, fds,
                          errnos) != 0) {
        fprintf(stderr, "fdcat: %s\n", fdagent_last_error());
        fdagent_close(agent);
        return 69;
    }
    fdagent_close(agent); /* the fds stay open: they are ours */

    int status = 0;
    for (size_t i = 0; i < n; i++) {
        const char *path = argv[first + (int)i];
        if (fds[i] < 0) {
            fprintf(stderr, "fdcat: %s: %s\n", path, strerror(errnos[i]));
            status = 1;
            continue;
        }
        if (copy_out(fds[i]) != 0) {
            fprintf(stderr, "fdcat: %s: %s\n", path, strerror(errno));
            status = 1;
        }
        close(fds[i]);
    }
    free(fds);
    free(errnos);
    return status;
}
