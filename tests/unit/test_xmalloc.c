/*
 * xmalloc_libraries: jansson and libevent allocate through xmalloc, so
 * running out of memory inside them aborts with xmalloc's message rather
 * than returning NULL to callers that do not check.
 *
 * The libevent half runs in a child process (this program again, with
 * an argument): event_set_mem_functions must come before any other
 * libevent call, and the child must be free to abort. The child asks
 * libevent for a buffer no machine can map; under AddressSanitizer it
 * runs with allocator_may_return_null=1 so the NULL reaches xmalloc, as
 * it does with glibc.
 */
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "xmalloc.h"

extern char	**environ;

/* Far past any address space: the allocation cannot succeed. */
#define HUGE_BUFFER	((size_t)1 << 50)

/* The child: 0 if libevent reported the failure, 3 if it was hidden. */
static int
oom_child(int hooked)
{
	struct evbuffer	*b;

	if (hooked)
		xmalloc_libraries();
	if ((b = evbuffer_new()) == NULL)
		return (4);
	if (evbuffer_expand(b, HUGE_BUFFER) != 0) {
		evbuffer_free(b);
		return (3);		/* a NULL handed back to the caller */
	}
	evbuffer_free(b);
	return (5);
}

struct child {
	int	 status;
	char	 err[4096];	/* its stderr */
};

static void
run_child(const char *mode, struct child *ch)
{
	char	*argv[] = { "test_xmalloc", (char *)mode, NULL };
	char	**env, *asan;
	size_t	 n, len = 0;
	ssize_t	 r;
	int	 fds[2], i;
	pid_t	 pid;

	memset(ch, 0, sizeof *ch);
	for (n = 0; environ[n] != NULL; n++)
		;
	env = xcalloc(n + 2, sizeof *env);
	asan = xprintf("ASAN_OPTIONS=%s%sallocator_may_return_null=1",
	    getenv("ASAN_OPTIONS") != NULL ? getenv("ASAN_OPTIONS") : "",
	    getenv("ASAN_OPTIONS") != NULL ? ":" : "");
	for (i = 0, n = 0; environ[i] != NULL; i++) {
		if (strncmp(environ[i], "ASAN_OPTIONS=", 13) != 0)
			env[n++] = environ[i];
	}
	env[n++] = asan;
	env[n] = NULL;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execve("/proc/self/exe", argv, env);
		_exit(127);
	}
	close(fds[1]);
	while (len < sizeof ch->err - 1 &&
	    (r = read(fds[0], ch->err + len, sizeof ch->err - 1 - len)) > 0)
		len += (size_t)r;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &ch->status, 0), pid);
	free(asan);
	free(env);
}

/* Without the hook libevent hides the failure: the test can tell. */
static void
test_libevent_unhooked_returns_null(void **state)
{
	struct child	ch;

	(void)state;
	run_child("oom-unhooked", &ch);
	assert_true(WIFEXITED(ch.status));
	assert_int_equal(WEXITSTATUS(ch.status), 3);
}

static void
test_libevent_oom_aborts_with_message(void **state)
{
	struct child	ch;

	(void)state;
	run_child("oom-hooked", &ch);
	assert_true(WIFSIGNALED(ch.status));
	assert_int_equal(WTERMSIG(ch.status), SIGABRT);
	assert_non_null(strstr(ch.err, "out of memory"));
}

static void
test_jansson_uses_xmalloc(void **state)
{
	json_malloc_t	 m;
	json_free_t	 f;
	json_t		*j;

	(void)state;
	/* Not ours before the call: the check below can fail. */
	json_get_alloc_funcs(&m, &f);
	assert_true(m != xmalloc);
	xmalloc_libraries();
	json_get_alloc_funcs(&m, &f);
	assert_true(m == xmalloc);
	assert_true(f == free);
	/* And values made afterwards are still ordinary ones. */
	j = json_pack("{s:s}", "a", "b");
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "a")), "b");
	json_decref(j);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_libevent_unhooked_returns_null),
		cmocka_unit_test(test_libevent_oom_aborts_with_message),
		cmocka_unit_test(test_jansson_uses_xmalloc),
	};

	if (argc == 2 && strcmp(argv[1], "oom-hooked") == 0)
		return (oom_child(1));
	if (argc == 2 && strcmp(argv[1], "oom-unhooked") == 0)
		return (oom_child(0));
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
