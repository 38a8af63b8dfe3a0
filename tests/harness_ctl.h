/*
 * What the carelinectl tests share: the built carelinectl run against one
 * carelined with an environment of its own (an empty HOME, no config,
 * no token from whoever runs the tests), its output captured whole and
 * checked for sanitizer reports.
 */
#ifndef CARELINE_TEST_HARNESS_CTL_H
#define CARELINE_TEST_HARNESS_CTL_H

#define BOGUS_TOKEN	"clt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

/* Find carelinectl and clear the environment; ctl() will talk to url
 * (kept, not copied). 0, or -1 when carelinectl is not built. */
int	 ctl_setup(const char *url);
void	 ctl_teardown(void);
const char *ctl_bin(void);
const char *ctl_home(void);	/* the empty HOME */

/* A sanitizer report in carelinectl's output fails the test. */
void	 check_sanitizer(const char *out);
/* carelinectl ARGS... with nothing added: its exit status, *out its
 * stdout and stderr (caller frees). */
int	 ctl_bare(char **out, ...) __attribute__((sentinel));
/* carelinectl --url URL [--token TOKEN] ARGS... */
int	 ctl(char **out, const char *token, ...) __attribute__((sentinel));

void	 assert_contains(const char *out, const char *needle);
void	 assert_lacks(const char *out, const char *needle);
/* mkdir -p, mode 0700. */
void	 mkdirs(const char *path);

#endif
