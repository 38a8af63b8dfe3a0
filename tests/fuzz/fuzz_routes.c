/*
 * The route matcher (daemon/http_router.c): the first byte picks the method,
 * the rest is the path as evhttp hands it over.
 */
#include "fuzz/fuzz.h"
#include "http_router.h"

static const enum evhttp_cmd_type fuzz_methods[] = {
	EVHTTP_REQ_GET, EVHTTP_REQ_HEAD, EVHTTP_REQ_POST, EVHTTP_REQ_PUT,
	EVHTTP_REQ_PATCH, EVHTTP_REQ_DELETE, EVHTTP_REQ_OPTIONS,
	EVHTTP_REQ_TRACE, EVHTTP_REQ_CONNECT,
};
#define FUZZ_NMETHODS	(sizeof fuzz_methods / sizeof *fuzz_methods)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum evhttp_cmd_type	 m;
	long long		 ids[ROUTES_MAX_IDS];
	char			*path, allow[128];
	const char		*p;
	int			 idx, nids = -1, want = 0, i;

	if (size < 1)
		return (0);
	m = fuzz_methods[data[0] % FUZZ_NMETHODS];
	path = fuzz_str(data + 1, size - 1);
	idx = routes_match(m, path, ids, &nids);
	routes_allow(path, allow, sizeof allow);
	if (idx < -2 || idx >= nroutes)
		fuzz_fail("routes_match returned %d", idx);
	if (idx >= 0) {
		/* One positive id per {id}, and the method it was asked. */
		for (p = routes[idx].pattern; (p = strstr(p, "{id}")) != NULL;
		    p += 4)
			want++;
		if (nids != want)
			fuzz_fail("%s: %d ids for %d {id}", path, nids, want);
		for (i = 0; i < nids; i++) {
			if (ids[i] <= 0)
				fuzz_fail("%s: id %lld", path, ids[i]);
		}
		if (routes[idx].method != m && !(m == EVHTTP_REQ_HEAD &&
		    routes[idx].method == EVHTTP_REQ_GET))
			fuzz_fail("%s: matched another method", path);
		if (strstr(allow, http_method_name(routes[idx].method)) ==
		    NULL)
			fuzz_fail("%s: Allow \"%s\" lacks the route's method",
			    path, allow);
	} else if ((idx == -2) != (allow[0] != '\0'))
		fuzz_fail("%s: %d with Allow \"%s\"", path, idx, allow);
	free(path);
	return (0);
}
