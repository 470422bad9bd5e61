/*
 * fdagent.h - the C interface of libfdagent, the fdbroker client library.
 *
 * fdbroker is a privileged daemon that opens files for unprivileged clients under an
 * administrator's policy and hands them the open file descriptor. This library asks it:
 * connect, then open one path or many, and read or write the fds at native speed.
 *
 *     fdagent *agent = fdagent_connect(NULL, 5000);
 *     if (!agent) { fprintf(stderr, "%s\n", fdagent_last_error()); return 1; }
 *     int fd = fdagent_open(agent, "/srv/uploads/a.txt", FDAGENT_READ, 0);
 *     if (fd < 0) fprintf(stderr, "%s\n", fdagent_last_error());
 *     fdagent_close(agent);
 *
 * Build with:  cc prog.c $(pkg-config --cflags --libs fdagent)
 *
 * Conventions, for every function below:
 * - A failure returns -1 (NULL for fdagent_connect), sets errno, and records this
 *   thread's last error: fdagent_last_errno() and fdagent_last_error(). A success
 *   leaves both as they were, like errno.
 * - A NULL pointer where an argument is required, an access with an unknown bit, a
 *   mode above 07777 or an empty socket path fails with EINVAL; nothing is sent.
 *   Paths themselves are judged by the broker (an empty or relative path: EINVAL, with
 *   its reason).
 * - Every fd returned is the caller's, open with O_CLOEXEC; close it with close(2).
 * - No function keeps a pointer it was given beyond its return.
 * - A handle may be shared by threads: calls on it are serialized. The last error is
 *   per thread. Error replies and connection failures never abort the program.
 *
 * The ABI is stable: functions are only ever added, and constants keep their values.
 */
#ifndef FDAGENT_H
#define FDAGENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Access words, combined with |, as a policy rule grants them. */
#define FDAGENT_READ 0x01u       /* read the file's contents */
#define FDAGENT_WRITE 0x02u      /* write to it */
#define FDAGENT_CREATE 0x08u     /* with WRITE: create it if missing, else open it */
#define FDAGENT_TRUNCATE 0x10u   /* with WRITE: truncate it on open */
#define FDAGENT_LIST 0x20u       /* alone: open a directory to read its entries */
#define FDAGENT_CREATE_NEW 0x40u /* with WRITE: create it, failing (EEXIST) if it exists */

/* The most paths one request carries; fdagent_open_many takes any number. */
#define FDAGENT_MAX_BATCH 253

/* A connection to the broker. Opaque: only a pointer to it is ever used. */
typedef struct fdagent fdagent;

/*
 * Connects to the broker listening at `socket`, a NUL-terminated path the library only
 * reads during the call, or, if `socket` is NULL, at $FDBROKER_SOCKET, else at
 * /run/fdbroker.sock. `timeout_ms` bounds the wait to connect and then each send and
 * each reply on this connection (ETIMEDOUT past it; the connection is then of no more
 * use); 0 waits without bound.
 *
 * The broker knows the client by the credentials of the process at connect time.
 * Returns a handle, owned by the caller until fdagent_close(); NULL on failure (ENOENT:
 * no socket there, ECONNREFUSED: no broker listening, EACCES: the socket's mode keeps
 * this user out, ETIMEDOUT). A broker over its connection limits accepts, then answers
 * the first request with EBUSY.
 */
fdagent *fdagent_connect(const char *socket, unsigned int timeout_ms);

/* Asks the broker whether it is there. 0, or -1 on failure. */
int fdagent_ping(fdagent *agent);

/*
 * Opens `path` (NUL-terminated, any bytes but NUL: not necessarily UTF-8; absolute and
 * normalized) with `access` (FDAGENT_* words) through the broker. `mode` is the mode of
 * a file created under FDAGENT_CREATE or FDAGENT_CREATE_NEW, bounded by the broker (by
 * 0666 and the granting rule's create_mode); otherwise unused.
 *
 * Returns the open fd, the caller's (O_CLOEXEC); -1 on failure, with errno as a direct
 * open would give it (EACCES for a denial by the policy, ENOENT, ELOOP, ...) and the
 * broker's reason in fdagent_last_error().
 */
int fdagent_open(fdagent *agent, const char *path, unsigned int access, unsigned int mode);

/*
 * Opens each of the `n` paths of `paths` (each as fdagent_open takes it) with `access`
 * and `mode`, in as few round trips as the protocol allows. Writes one result per path,
 * in order, to the caller's arrays of `n` ints: fds[i] is the open fd (the caller's,
 * O_CLOEXEC) and errnos[i] is 0, or fds[i] is -1 and errnos[i] says why that path failed
 * (its reason is not kept: ask fdagent_open for it).
 *
 * Returns 0 when every path has its result, even if some failed; -1 when the call
 * itself failed (bad arguments, the connection broke): then fds[i] is -1 and errnos[i]
 * is the call's errno for every i, and no fd is left open. n = 0 returns 0 at once.
 */
int fdagent_open_many(fdagent *agent, const char *const *paths, size_t n, unsigned int access,
                      unsigned int mode, int *fds, int *errnos);

/* Closes the connection and frees the handle; NULL is ignored. The handle must be in
 * use by no other thread, and is not to be used again. Fds it returned stay open. */
void fdagent_close(fdagent *agent);

/* The errno of this thread's last failed call; 0 if none failed yet. */
int fdagent_last_errno(void);

/*
 * This thread's last error as text: the broker's reason for a refusal ("permission
 * denied by the fdbroker policy"), or what failed ("cannot connect to the broker at
 * /run/fdbroker.sock: ..."). Never NULL; "" if no call failed yet. Owned by the library:
 * valid until this thread's next failed fdagent call, or its exit; do not free it.
 */
const char *fdagent_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* FDAGENT_H */
