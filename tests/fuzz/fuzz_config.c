/*
 * The config loader and a reload (config/config.c): the input is the
 * YAML file. config_load reads a path, so the input is written to a
 * memory file and loaded through /proc/self/fd as from disk; what loads
 * is then reloaded into a default config, as a SIGHUP would.
 */
#include <sys/mman.h>

#include <unistd.h>

#include "config.h"
#include "fuzz/fuzz.h"
#include "log.h"

static int	fuzz_fd = -1;
static char	fuzz_path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* A reload logs each key; at this rate that is all it would do. */
	log_init("fuzz_config");
	log_configure(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	unsetenv("CARELINE_DATABASE_URL");
	if ((fuzz_fd = memfd_create("careline.yaml", 0)) == -1)
		fuzz_fail("memfd_create failed");
	snprintf(fuzz_path, sizeof fuzz_path, "/proc/self/fd/%d", fuzz_fd);
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*next, *cur;
	char		*cause = NULL;

	if (ftruncate(fuzz_fd, 0) != 0 ||
	    pwrite(fuzz_fd, data, size, 0) != (ssize_t)size)
		fuzz_fail("cannot write the memory file");
	if ((next = config_load(fuzz_path, &cause)) == NULL) {
		/* "FILE:LINE: ..." for the admin. */
		if (cause == NULL || strncmp(cause, fuzz_path,
		    strlen(fuzz_path)) != 0)
			fuzz_fail("refused with \"%s\"", cause ? cause : "");
		free(cause);
		return (0);
	}
	if (cause != NULL)
		fuzz_fail("loaded with a cause: %s", cause);
	cur = config_defaults();
	config_reload(cur, next);
	/* Whatever a reload applies, a second one finds nothing new. */
	if (config_reload(cur, next) != 0)
		fuzz_fail("a second reload applied keys again");
	config_free(cur);
	config_free(next);
	return (0);
}
