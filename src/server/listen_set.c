/*
 * The running set of listening addresses and its comparison with a new one
 * (see listen_set.h). Resolution and diffing are plain functions over
 * arrays; opening sockets goes through listen.h.
 */
#include "server/listen_set.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "server/listen.h"

static void label_inet(sl_bind_point *p)
{
	char a[SL_ADDR_STRLEN];

	sl_addr_format(&p->addr, a, sizeof a);
	snprintf(p->label, sizeof p->label, p->addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
		 p->port);
}

static sl_bind_point *add_point(sl_listen_set *s, const sl_bind_point *p)
{
	for (size_t i = 0; i < s->n; i++)
		if (sl_bind_point_same(&s->v[i], p))
			return &s->v[i];
	if (s->n == SL_LISTEN_MAX_POINTS)
		return NULL;
	s->v[s->n] = *p;
	return &s->v[s->n++];
}

static int add_inet(sl_listen_set *s, const sl_addr *a, uint16_t port)
{
	sl_bind_point p;

	memset(&p, 0, sizeof p);
	p.addr = *a;
	p.port = port;
	p.shared_fd = -1;
	label_inet(&p);
	return add_point(s, &p) ? 0 : -1;
}

int sl_listen_set_resolve(const sl_conf_listens *ls, sl_listen_set *out, char *err,
			  size_t errlen)
{
	out->n = 0;
	for (size_t i = 0; i < ls->n; i++) {
		const sl_conf_listen *l = &ls->v[i];

		if (l->kind == SL_CONF_LISTEN_UNIX) {
			sl_bind_point p;
			size_t n = strlen(l->path);

			if (n >= sizeof p.path) {
				snprintf(err, errlen, "unix socket path too long (at most %zu bytes): %s",
					 sizeof p.path - 1, l->path);
				return -1;
			}
			memset(&p, 0, sizeof p);
			p.unix_sock = true;
			memcpy(p.path, l->path, n + 1);
			p.shared_fd = -1;
			snprintf(p.label, sizeof p.label, "unix:%s", l->path);
			if (!add_point(out, &p))
				goto too_many;
			continue;
		}
		if (l->is_ip) {
			if (add_inet(out, &l->addr, l->port) < 0)
				goto too_many;
			continue;
		}
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
		struct addrinfo *res = NULL, *ai;
		int rc = getaddrinfo(l->host, NULL, &hints, &res);
		if (rc != 0) {
			snprintf(err, errlen, "cannot resolve listen address %s: %s", l->host,
				 gai_strerror(rc));
			return -1;
		}
		for (ai = res; ai; ai = ai->ai_next) {
			sl_addr a;
			if (sl_addr_from_sockaddr(ai->ai_addr, &a, NULL) == 0 &&
			    add_inet(out, &a, l->port) < 0) {
				freeaddrinfo(res);
				goto too_many;
			}
		}
		freeaddrinfo(res);
	}
	return 0;
too_many:
	snprintf(err, errlen, "too many listen addresses (at most %d)", SL_LISTEN_MAX_POINTS);
	return -1;
}

bool sl_bind_point_same(const sl_bind_point *a, const sl_bind_point *b)
{
	if (a->unix_sock != b->unix_sock)
		return false;
	if (a->unix_sock)
		return strcmp(a->path, b->path) == 0;
	return a->port == b->port && sl_addr_eq(&a->addr, &b->addr);
}

size_t sl_listen_set_diff(const sl_listen_set *old, const sl_listen_set *nw,
			  int *new_from_old, int *old_in_new)
{
	size_t changes = 0;

	for (size_t i = 0; i < nw->n; i++) {
		int at = -1;
		for (size_t j = 0; j < old->n && at < 0; j++)
			if (sl_bind_point_same(&nw->v[i], &old->v[j]))
				at = (int)j;
		if (new_from_old)
			new_from_old[i] = at;
		if (at < 0)
			changes++;
	}
	for (size_t j = 0; j < old->n; j++) {
		int at = -1;
		for (size_t i = 0; i < nw->n && at < 0; i++)
			if (sl_bind_point_same(&nw->v[i], &old->v[j]))
				at = (int)i;
		if (old_in_new)
			old_in_new[j] = at;
		if (at < 0)
			changes++;
	}
	return changes;
}

int sl_bind_point_probe(const sl_bind_point *p, char *err, size_t errlen)
{
	int fd = sl_listen_tcp(&p->addr, p->port, false, 1);

	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", p->label, sl_strerror(fd));
		return -1;
	}
	close(fd);
	return 0;
}

int sl_bind_point_open_tcp(const sl_bind_point *p, char *err, size_t errlen)
{
	int fd = sl_listen_tcp(&p->addr, p->port, true, SL_LISTEN_BACKLOG);

	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", p->label, sl_strerror(fd));
		return -1;
	}
	return fd;
}

int sl_bind_point_open_unix(sl_bind_point *p, char *err, size_t errlen)
{
	int fd = sl_listen_unix(p->path, SL_LISTEN_BACKLOG);

	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", p->label, sl_strerror(fd));
		return -1;
	}
	p->shared_fd = fd;
	return 0;
}

void sl_bind_point_close(sl_bind_point *p)
{
	if (!p->unix_sock || p->shared_fd < 0)
		return;
	close(p->shared_fd);
	unlink(p->path);
	p->shared_fd = -1;
}

void sl_listen_set_labels(const sl_listen_set *s, char *out, size_t cap)
{
	size_t at = 0;

	if (cap)
		out[0] = '\0';
	for (size_t i = 0; i < s->n && at < cap; i++) {
		int k = snprintf(out + at, cap - at, "%s%s", i ? ", " : "", s->v[i].label);
		if (k > 0)
			at += (size_t)k;
	}
}
