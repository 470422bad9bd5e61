/*
 * fdcat SOCKET PATH: the least a client of fdbroker can do, in C, as the baseline the
 * bench's `process` section compares `fdagent cat PATH` with: connect, send one Open
 * (read), receive the reply and its fd (SCM_RIGHTS), copy the file to stdout, exit.
 *
 * It speaks the wire protocol from its spec (wire/src/lib.rs, the bytes of
 * wire/tests/golden/vectors.txt): one SEQPACKET record per message, the version byte,
 * then postcard (varint integers, length-prefixed byte strings). It checks what a
 * careful client must (the version, the tag, exactly one fd, no truncation), so that it
 * does the same work as fdagent, no less.
 *
 * Exit status: 0 on success, 1 on any failure (reported on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { VERSION = 1, REQ_OPEN = 1, RESP_OPENED = 1, RESP_ERROR = 2, ACCESS_READ = 0x01 };
/* MAX_PATH and MAX_RESPONSE of the spec. */
enum { MAX_PATH = 4095, MAX_RESPONSE = 4096 };

static int fail(const char *what, int err)
{
	fprintf(stderr, "fdcat: %s: %s\n", what, strerror(err));
	return 1;
}

/* Appends `v` as a postcard varint (LEB128); returns the new end. */
static unsigned char *put_varint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

/* Reads a varint of at most 10 bytes from [*p, end); returns 0 on a short or bad one. */
static int get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 70 && *p < end; shift += 7) {
		unsigned char b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 1;
	}
	return 0;
}

/* The broker's Error reply: kind, errno (zigzag), message. */
static int report_error(const char *path, const unsigned char *p, const unsigned char *end)
{
	uint64_t kind, zz, len;
	if (!get_varint(&p, end, &kind) || !get_varint(&p, end, &zz) ||
	    !get_varint(&p, end, &len) || len > (uint64_t)(end - p)) {
		fprintf(stderr, "fdcat: %s: malformed error reply\n", path);
		return 1;
	}
	int err = (int)((zz >> 1) ^ -(zz & 1));
	fprintf(stderr, "fdcat: %s: %.*s (%s)\n", path, (int)len, (const char *)p, strerror(err));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: fdcat SOCKET PATH\n");
		return 2;
	}
	const char *socket_path = argv[1], *path = argv[2];
	size_t path_len = strlen(path);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (path_len > MAX_PATH || strlen(socket_path) >= sizeof addr.sun_path) {
		fprintf(stderr, "fdcat: path too long\n");
		return 2;
	}
	memcpy(addr.sun_path, socket_path, strlen(socket_path));

	int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return fail("socket", errno);
	if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0)
		return fail(socket_path, errno);

	/* Open { path, access: read, create_mode: 0 } */
	unsigned char req[MAX_PATH + 16], *p = req;
	*p++ = VERSION;
	*p++ = REQ_OPEN;
	p = put_varint(p, path_len);
	memcpy(p, path, path_len);
	p += path_len;
	*p++ = ACCESS_READ;
	p = put_varint(p, 0);
	if (send(sock, req, (size_t)(p - req), MSG_NOSIGNAL) != p - req)
		return fail("send", errno);

	unsigned char reply[MAX_RESPONSE];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = reply, .iov_len = sizeof reply };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof control.buf,
	};
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fail("recvmsg", errno);
	int fd = -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof fd);
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		fprintf(stderr, "fdcat: truncated reply\n");
		return 1;
	}
	if (n < 2 || reply[0] != VERSION) {
		fprintf(stderr, "fdcat: reply of another protocol version\n");
		return 1;
	}
	if (reply[1] == RESP_ERROR)
		return report_error(path, reply + 2, reply + n);
	if (reply[1] != RESP_OPENED || fd < 0) {
		fprintf(stderr, "fdcat: unexpected reply (tag %d, fd %d)\n", reply[1], fd);
		return 1;
	}
	close(sock);

	char buf[65536];
	for (;;) {
		ssize_t got = read(fd, buf, sizeof buf);
		if (got == 0)
			break;
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return fail(path, errno);
		}
		for (ssize_t off = 0; off < got;) {
			ssize_t put = write(STDOUT_FILENO, buf + off, (size_t)(got - off));
			if (put < 0) {
				if (errno == EINTR)
					continue;
				return fail("stdout", errno);
			}
			off += put;
		}
	}
	close(fd);
	return 0;
}
