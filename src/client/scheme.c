/*
 * The scheme table (see scheme.h) and the start function of the network
 * schemes, which only queue the reply on its connection: channels,
 * connects and the idle cache do the rest. data: and file: live in
 * scheme_data.c and scheme_file.c. To add a scheme, write its handlers in a
 * file of its own and add a row here.
 */
#include "client/scheme.h"

#include "client/connection_internal.h"
#include "core/err.h"

int sl__scheme_http_start(sl_reply *r)
{
	sl__conn *c = sl__conn_get(r->m, r);

	if (!c)
		return SL_E_NOMEM;
	sl__conn_enqueue(c, r, false);
	return 0;
}

static const sl_scheme table[] = {
	{
		.name = "http",
		.default_port = 80,
		.network = true,
		.cacheable = true,
		.start = sl__scheme_http_start,
	},
	{
		.name = "https",
		.default_port = 443,
		.network = true,
		.tls = true,
		.cacheable = true,
		.start = sl__scheme_http_start,
	},
	{
		.name = "data",
		.start = sl__scheme_data_start,
		.resume = sl__scheme_data_resume,
		.cancel = sl__scheme_data_cancel,
	},
	{
		.name = "file",
		.start = sl__scheme_file_start,
		.resume = sl__scheme_file_resume,
		.cancel = sl__scheme_file_cancel,
	},
};

const sl_scheme *sl_scheme_find(sl_slice name)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (sl_slice_case_eq_cstr(name, table[i].name))
			return &table[i];
	return NULL;
}

const sl_scheme *sl_scheme_table(size_t *n)
{
	*n = sizeof table / sizeof table[0];
	return table;
}
