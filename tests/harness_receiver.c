/*
 * The demo receiver as a fault-injecting provider endpoint, run by
 * integration tests (harness.h).
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "xmalloc.h"

int
th_receiver_start(struct th_receiver *rv, const char *args)
{
	char	*cmd, *bin, port[16];
	long	 deadline;
	int	 fd;

	memset(rv, 0, sizeof *rv);
	rv->port = th_free_port();
	snprintf(port, sizeof port, "%d", rv->port);
	xasprintf(&rv->log, "%s/receiver-%d-%d.jsonl", th_tmp(), (int)getpid(),
	    rv->port);
	xasprintf(&rv->stderr_log, "%s.stderr", rv->log);
	snprintf(rv->url, sizeof rv->url, "http://127.0.0.1:%d/hooks",
	    rv->port);
	xasprintf(&bin, "%s/demo-receiver", th_build_dir());
	xasprintf(&cmd, "exec '%s' --port %s --log '%s' %s 2>'%s'", bin, port,
	    rv->log, args != NULL ? args : "", rv->stderr_log);
	if ((rv->pid = fork()) == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	free(bin);
	/* Ready when its port accepts a connection. */
	deadline = th_now_ms() + 5000;
	while (th_now_ms() < deadline) {
		struct sockaddr_in	sin;

		fd = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_port = htons(rv->port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0) {
			close(fd);
			return (0);
		}
		close(fd);
		usleep(20000);
	}
	return (-1);
}

void
th_receiver_stop(struct th_receiver *rv)
{
	if (rv->pid > 0) {
		kill(rv->pid, SIGTERM);
		waitpid(rv->pid, NULL, 0);
		rv->pid = 0;
	}
	free(rv->log);
	free(rv->stderr_log);
	rv->log = rv->stderr_log = NULL;
}

int
th_receiver_count(const struct th_receiver *rv, const char *needle)
{
	return (th_file_count(rv->log, needle));
}

int
th_receiver_wait(const struct th_receiver *rv, const char *needle, int n,
    int timeout_ms)
{
	long	deadline = th_now_ms() + timeout_ms;

	for (;;) {
		if (th_receiver_count(rv, needle) >= n)
			return (0);
		if (th_now_ms() >= deadline)
			return (-1);
		usleep(20000);
	}
}
