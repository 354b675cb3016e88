/*
 * Access rules of the proxy: which clients may use it (acl.allow_clients),
 * which ports CONNECT may reach (acl.connect_ports), and which destination
 * addresses are never reached — the safe defaults: link-local addresses
 * (169.254.0.0/16, fe80::/10, where cloud metadata services live),
 * multicast and broadcast, always; loopback and unspecified addresses
 * (0.0.0.0 reaches the local host) unless acl.allow_loopback_destinations;
 * the proxy's own listening address and port, always; and every CIDR in
 * acl.deny_destinations. The destination check runs on every address a
 * target resolves to, for forwarding and CONNECT alike.
 */
#ifndef SL_SERVER_ACL_H
#define SL_SERVER_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/config.h"

/* True when a client at peer may use the proxy. peer NULL means a unix
 * socket client, which the socket's file mode already guards: allowed. */
bool sl_acl_client_allowed(const sl_config *cfg, const sl_addr *peer);

/* True when CONNECT may reach port. */
bool sl_acl_connect_port_allowed(const sl_config *cfg, uint16_t port);

/* The context of one destination check: the config, the proxy's own
 * listening endpoints, and the port the request targets. */
typedef struct sl_acl_dest {
	const sl_config *cfg;
	const sl_addr *own;     /* listening addresses (unspecified = any local) */
	const uint16_t *own_ports;
	size_t n_own;
	uint16_t port;          /* the target's port */
	char why[160];          /* set when a check refuses: the rule's words */
} sl_acl_dest;

/*
 * Checks one resolved address of the target; arg is an sl_acl_dest. The
 * signature is engines/chain.h's sl_addr_check_fn. Returns 0 to allow or
 * SL_E_TARGET_DENIED, with the reason in the context's why.
 */
int sl_acl_check_dest(void *arg, const sl_addr *a);

#endif
