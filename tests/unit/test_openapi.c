/*
 * openapi.yaml and the route table (daemon/http_router.c) name the same paths
 * with the same methods, both ways: a route nobody documented, or a
 * documented route that answers 404, fails here. Path parameters are
 * compared as {id} whatever the document calls them; HEAD is implied by
 * GET on both sides.
 */
#include <ctype.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yaml.h>

#include "http_router.h"

/* Served by daemon/http_static.c, not by a route: the console's page. */
static const char *const openapi_static[] = { "GET /", NULL };

#define OPENAPI_MAX_OPS	256

struct openapi {
	yaml_parser_t	 yp;
	char		*ops[OPENAPI_MAX_OPS];	/* "GET /v1/calls/{id}" */
	int		 nops;
};

static void
openapi_next(struct openapi *oa, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&oa->yp, ev))
		fail_msg("openapi.yaml: %s at line %zu", oa->yp.problem,
		    oa->yp.problem_mark.line + 1);
}

/* Consume the rest of a node whose first event is ev. */
static void
openapi_skip(struct openapi *oa, yaml_event_t *ev)
{
	int	depth = 0;

	for (;;) {
		if (ev->type == YAML_MAPPING_START_EVENT ||
		    ev->type == YAML_SEQUENCE_START_EVENT)
			depth++;
		else if (ev->type == YAML_MAPPING_END_EVENT ||
		    ev->type == YAML_SEQUENCE_END_EVENT)
			depth--;
		yaml_event_delete(ev);
		if (depth == 0)
			return;
		openapi_next(oa, ev);
	}
}

/* "/v1/calls/{callId}" as "/v1/calls/{id}". */
static void
openapi_normalise(const char *in, char *out, size_t len)
{
	size_t	n = 0;

	while (*in != '\0' && n + 5 < len) {
		if (*in == '{') {
			memcpy(out + n, "{id}", 4);
			n += 4;
			in += strcspn(in, "}");
			if (*in == '}')
				in++;
			continue;
		}
		out[n++] = *in++;
	}
	out[n] = '\0';
}

/* The operations of one path item: its keys that are HTTP methods. */
static void
openapi_path_item(struct openapi *oa, const char *path)
{
	static const char *const methods[] = {
		"get", "put", "post", "delete", "options", "head", "patch",
		"trace", NULL,
	};
	yaml_event_t	 ev;
	char		 op[512], norm[256], key[32];
	int		 i, j;

	openapi_next(oa, &ev);
	assert_int_equal(ev.type, YAML_MAPPING_START_EVENT);
	yaml_event_delete(&ev);
	openapi_normalise(path, norm, sizeof norm);
	for (;;) {
		openapi_next(oa, &ev);
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return;
		}
		assert_int_equal(ev.type, YAML_SCALAR_EVENT);
		snprintf(key, sizeof key, "%s", ev.data.scalar.value);
		yaml_event_delete(&ev);
		for (i = 0; methods[i] != NULL; i++) {
			if (strcmp(key, methods[i]) != 0)
				continue;
			for (j = 0; key[j] != '\0'; j++)
				key[j] = toupper((unsigned char)key[j]);
			snprintf(op, sizeof op, "%s %s", key, norm);
			assert_true(oa->nops < OPENAPI_MAX_OPS);
			oa->ops[oa->nops++] = strdup(op);
		}
		openapi_next(oa, &ev);
		openapi_skip(oa, &ev);
	}
}

/* Walk the top-level mapping to paths: and read each path item. */
static void
openapi_load(struct openapi *oa, const char *file)
{
	yaml_event_t	 ev;
	yaml_event_type_t type;
	FILE		*f;
	char		*key;
	int		 seen = 0;

	memset(oa, 0, sizeof *oa);
	if ((f = fopen(file, "rb")) == NULL)
		fail_msg("%s: cannot open", file);
	assert_true(yaml_parser_initialize(&oa->yp));
	yaml_parser_set_input_file(&oa->yp, f);
	/* Stream, document, then the top-level mapping. */
	for (;;) {
		openapi_next(oa, &ev);
		type = ev.type;
		yaml_event_delete(&ev);
		if (type == YAML_MAPPING_START_EVENT)
			break;
		assert_true(type == YAML_STREAM_START_EVENT ||
		    type == YAML_DOCUMENT_START_EVENT);
	}
	for (;;) {
		openapi_next(oa, &ev);
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		assert_int_equal(ev.type, YAML_SCALAR_EVENT);
		key = strdup((char *)ev.data.scalar.value);
		yaml_event_delete(&ev);
		if (strcmp(key, "paths") != 0) {
			openapi_next(oa, &ev);
			openapi_skip(oa, &ev);
			free(key);
			continue;
		}
		free(key);
		seen = 1;
		openapi_next(oa, &ev);
		assert_int_equal(ev.type, YAML_MAPPING_START_EVENT);
		yaml_event_delete(&ev);
		for (;;) {
			openapi_next(oa, &ev);
			if (ev.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&ev);
				break;
			}
			assert_int_equal(ev.type, YAML_SCALAR_EVENT);
			key = strdup((char *)ev.data.scalar.value);
			yaml_event_delete(&ev);
			openapi_path_item(oa, key);
			free(key);
		}
	}
	yaml_parser_delete(&oa->yp);
	fclose(f);
	assert_true(seen);
}

static void
openapi_free(struct openapi *oa)
{
	while (oa->nops > 0)
		free(oa->ops[--oa->nops]);
}

static int
openapi_has(const struct openapi *oa, const char *op)
{
	int	i;

	for (i = 0; i < oa->nops; i++) {
		if (strcmp(oa->ops[i], op) == 0)
			return (1);
	}
	return (0);
}

static int
routes_have(const char *op)
{
	char	buf[512];
	int	i;

	for (i = 0; openapi_static[i] != NULL; i++) {
		if (strcmp(openapi_static[i], op) == 0)
			return (1);
	}
	for (i = 0; i < nroutes; i++) {
		snprintf(buf, sizeof buf, "%s %s",
		    http_method_name(routes[i].method), routes[i].pattern);
		if (strcmp(buf, op) == 0)
			return (1);
	}
	return (0);
}

static void
openapi_file(char *buf, size_t len)
{
	const char	*root;

	if ((root = getenv("CARELINE_TEST_ROOT")) == NULL || *root == '\0')
		root = ".";
	snprintf(buf, len, "%s/openapi.yaml", root);
}

static void
test_every_route_is_documented(void **state)
{
	struct openapi	 oa;
	char		 file[PATH_MAX], op[512];
	int		 i, missing = 0;

	(void)state;
	openapi_file(file, sizeof file);
	openapi_load(&oa, file);
	for (i = 0; i < nroutes; i++) {
		snprintf(op, sizeof op, "%s %s",
		    http_method_name(routes[i].method), routes[i].pattern);
		if (!openapi_has(&oa, op)) {
			print_message("# %s: the router has %s\n", file, op);
			missing++;
		}
	}
	openapi_free(&oa);
	assert_int_equal(missing, 0);
}

static void
test_every_documented_operation_is_routed(void **state)
{
	struct openapi	 oa;
	char		 file[PATH_MAX];
	int		 i, missing = 0;

	(void)state;
	openapi_file(file, sizeof file);
	openapi_load(&oa, file);
	/* More than the static page: the document was read. */
	assert_true(oa.nops > 1);
	for (i = 0; i < oa.nops; i++) {
		if (!routes_have(oa.ops[i])) {
			print_message("# %s documents %s, the router has not\n",
			    file, oa.ops[i]);
			missing++;
		}
	}
	openapi_free(&oa);
	assert_int_equal(missing, 0);
}

static void
test_normalise(void **state)
{
	char	out[64];

	(void)state;
	openapi_normalise("/v1/calls/{callId}/cancel", out, sizeof out);
	assert_string_equal(out, "/v1/calls/{id}/cancel");
	openapi_normalise("/v1/a/{x}/b/{y}", out, sizeof out);
	assert_string_equal(out, "/v1/a/{id}/b/{id}");
	openapi_normalise("/healthz", out, sizeof out);
	assert_string_equal(out, "/healthz");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_every_route_is_documented),
		cmocka_unit_test(test_every_documented_operation_is_routed),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
