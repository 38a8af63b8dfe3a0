/*
 * The carelinectl tests' runner (harness_ctl.h).
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "harness_ctl.h"
#include "xmalloc.h"

#define CTL_MAXARGS	40

static char		*bin, *home;
static const char	*url;

int
ctl_setup(const char *daemon_url)
{
	url = daemon_url;
	xasprintf(&bin, "%s/carelinectl", th_build_dir());
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "no %s: build carelinectl first\n", bin);
		return (-1);
	}
	/* Nothing from whoever runs the tests: no config, no token. */
	xasprintf(&home, "%s/ctl-home-empty", th_tmp());
	mkdirs(home);
	setenv("HOME", home, 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("CARELINE_URL");
	unsetenv("CARELINE_TOKEN");
	setenv("TZ", "UTC", 1);
	setenv("LC_ALL", "C.UTF-8", 1);
	return (0);
}

void
ctl_teardown(void)
{
	free(bin);
	free(home);
	bin = home = NULL;
}

const char *ctl_bin(void) { return (bin); }
const char *ctl_home(void) { return (home); }

/*
 * A sanitizer report from carelinectl lands in its output, which the
 * test captures: copy it to our stderr, where tests/run.sh looks.
 */
void
check_sanitizer(const char *out)
{
	if (strstr(out, "Sanitizer") != NULL ||
	    strstr(out, "runtime error:") != NULL) {
		fprintf(stderr, "carelinectl reported:\n%s\n", out);
		fail_msg("sanitizer report from carelinectl");
	}
}

/* argv holds n words already; the rest come from ap. */
static int
run_args(char **out, const char **argv, int n, va_list ap)
{
	const char	*a;
	int		 rc;

	while ((a = va_arg(ap, const char *)) != NULL && n < CTL_MAXARGS - 1)
		argv[n++] = a;
	argv[n] = NULL;
	rc = th_run(out, argv, NULL);
	check_sanitizer(*out);
	return (rc);
}

int
ctl_bare(char **out, ...)
{
	const char	*argv[CTL_MAXARGS];
	va_list		 ap;
	int		 rc;

	argv[0] = bin;
	va_start(ap, out);
	rc = run_args(out, argv, 1, ap);
	va_end(ap);
	return (rc);
}

int
ctl(char **out, const char *token, ...)
{
	const char	*argv[CTL_MAXARGS];
	va_list		 ap;
	int		 n = 0, rc;

	argv[n++] = bin;
	argv[n++] = "--url";
	argv[n++] = url;
	if (token != NULL) {
		argv[n++] = "--token";
		argv[n++] = token;
	}
	va_start(ap, token);
	rc = run_args(out, argv, n, ap);
	va_end(ap);
	return (rc);
}

void
assert_contains(const char *out, const char *needle)
{
	if (strstr(out, needle) == NULL)
		fail_msg("expected \"%s\" in:\n%s", needle, out);
}

void
assert_lacks(const char *out, const char *needle)
{
	if (strstr(out, needle) != NULL)
		fail_msg("did not expect \"%s\" in:\n%s", needle, out);
}

void
mkdirs(const char *path)
{
	char	*p = xstrdup(path), *s;

	for (s = p + 1; *s != '\0'; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0700);
			*s = '/';
		}
	}
	mkdir(p, 0700);
	free(p);
}
