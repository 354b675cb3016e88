/*
 * The proxy's access rules (see acl.h). Pure functions over the config and
 * the addresses given; nothing here blocks or allocates.
 */
#include "server/acl.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

bool sl_acl_client_allowed(const sl_config *cfg, const sl_addr *peer)
{
	if (!peer)
		return true;
	for (size_t i = 0; i < cfg->acl.allow_clients.n; i++)
		if (sl_cidr_match(&cfg->acl.allow_clients.v[i], peer))
			return true;
	return false;
}

bool sl_acl_connect_port_allowed(const sl_config *cfg, uint16_t port)
{
	for (size_t i = 0; i < cfg->acl.connect_ports.n; i++)
		if (cfg->acl.connect_ports.v[i] == port)
			return true;
	return false;
}

static int deny(sl_acl_dest *d, const sl_addr *a, const char *rule)
{
	char text[SL_ADDR_STRLEN];

	sl_addr_format(a, text, sizeof text);
	snprintf(d->why, sizeof d->why, "destination %s is %s", text, rule);
	return SL_E_TARGET_DENIED;
}

/* Is a (with the target's port) one of the proxy's own listeners? */
static bool own_endpoint(const sl_acl_dest *d, const sl_addr *a, unsigned flags)
{
	for (size_t i = 0; i < d->n_own; i++) {
		if (d->own_ports[i] != d->port)
			continue;
		if (sl_addr_eq(&d->own[i], a))
			return true;
		/* A wildcard listener answers on every local address. */
		if ((sl_addr_classify(&d->own[i]) & SL_ADDR_UNSPECIFIED) &&
		    (flags & (SL_ADDR_LOOPBACK | SL_ADDR_UNSPECIFIED)))
			return true;
	}
	return false;
}

int sl_acl_check_dest(void *arg, const sl_addr *a)
{
	sl_acl_dest *d = arg;
	const sl_conf_acl *acl = &d->cfg->acl;
	unsigned flags = sl_addr_classify(a);

	if (own_endpoint(d, a, flags))
		return deny(d, a, "this proxy itself");
	if (flags & SL_ADDR_LINK_LOCAL)
		return deny(d, a, "link-local (metadata services)");
	if (flags & (SL_ADDR_MULTICAST | SL_ADDR_BROADCAST))
		return deny(d, a, "multicast or broadcast");
	if ((flags & (SL_ADDR_LOOPBACK | SL_ADDR_UNSPECIFIED)) &&
	    !acl->allow_loopback_destinations)
		return deny(d, a, "loopback (acl.allow_loopback_destinations is false)");
	for (size_t i = 0; i < acl->deny_destinations.n; i++)
		if (sl_cidr_match(&acl->deny_destinations.v[i], a))
			return deny(d, a, "in acl.deny_destinations");
	return 0;
}
