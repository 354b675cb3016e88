/*
 * `sluice --route URL -c FILE [--method M]`: prints which rule of the
 * configuration a request matches and the hops it would take, from the
 * configuration alone (no network, no health). Never prints a password.
 */
#ifndef SL_SERVER_ROUTE_SHOW_H
#define SL_SERVER_ROUTE_SHOW_H

#include <stddef.h>
#include <stdio.h>

#include "core/config.h"
#include "server/route_select.h"

/*
 * Writes the route of a method (NULL: GET) request for url to out: an
 * absolute http:// or https:// URL, or host:port when method is CONNECT.
 * Returns 0, or a negative code with a one-line reason in err (errlen
 * bytes) when the URL cannot be a request target.
 */
int sl_route_show(const sl_config *cfg, const char *url, const char *method, FILE *out,
		  char *err, size_t errlen);

#endif
