/*
 * carelined as a systemd service and as an admin's command: what it tells
 * the service manager when it stops (a fake NOTIFY_SOCKET, bound here),
 * and a password typed at a real terminal (a pty) that must not show.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <termios.h>
#include <utmp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "xmalloc.h"

#define TYPED_PASSWORD	"Tr0ub4dor-pty-7781"

static char	*db;

static int
group_setup(void **state)
{
	(void)state;
	db = th_db_ready("t_service");
	return (db != NULL ? 0 : -1);
}

static int
group_teardown(void **state)
{
	(void)state;
	free(db);
	return (0);
}

/* Replace the first "from" in a file by "to". */
static void
file_replace(const char *path, const char *from, const char *to)
{
	char	*text, *at, *next;
	FILE	*f;
	long	 len;

	assert_non_null(f = fopen(path, "r"));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = xmalloc((size_t)len + 1);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	text[len] = '\0';
	fclose(f);
	assert_non_null(at = strstr(text, from));
	*at = '\0';
	next = xprintf("%s%s%s", text, to, at + strlen(from));
	assert_non_null(f = fopen(path, "w"));
	fputs(next, f);
	fclose(f);
	free(next);
	free(text);
}

/*
 * The unit's TimeoutStopSec= is 30 s; a grace of 45 s must ask systemd
 * for 45 s + the 5 s margin when the drain starts, or systemd kills the
 * drain and marks the unit failed. A reload that changes the grace
 * changes what the next stop asks for.
 */
static void
test_stopping_extends_the_stop_timeout(void **state)
{
	struct th_daemon	 d;
	char			*sock, *msg;
	int			 fd;

	(void)state;
	fd = th_notify_open("service", &sock);
	assert_int_equal(th_daemon_start(&d, db, "http:\n  shutdown_grace: "
	    "45s\n", 2, sock), 0);
	assert_non_null(msg = th_notify_expect(fd, "READY=1", 5000));
	free(msg);

	assert_int_equal(kill(d.pid, SIGTERM), 0);
	assert_non_null(msg = th_notify_expect(fd, "STOPPING=1", 5000));
	print_message("on SIGTERM: %s\n", msg);
	assert_non_null(strstr(msg, "\nEXTEND_TIMEOUT_USEC=50000000"));
	free(msg);
	assert_int_equal(th_daemon_signal_wait(&d, 0, 10000), 0);
	th_daemon_cleanup(&d);

	assert_int_equal(th_daemon_start(&d, db, "http:\n  shutdown_grace: "
	    "45s\n", 2, sock), 0);
	assert_non_null(msg = th_notify_expect(fd, "READY=1", 5000));
	free(msg);
	file_replace(d.config, "shutdown_grace: 45s", "shutdown_grace: 2m");
	assert_int_equal(kill(d.pid, SIGHUP), 0);
	assert_non_null(msg = th_notify_expect(fd, "RELOADING=1", 5000));
	free(msg);
	assert_non_null(msg = th_notify_expect(fd, "READY=1", 5000));
	free(msg);
	assert_int_equal(kill(d.pid, SIGTERM), 0);
	assert_non_null(msg = th_notify_expect(fd, "STOPPING=1", 5000));
	assert_non_null(strstr(msg, "\nEXTEND_TIMEOUT_USEC=125000000"));
	free(msg);
	assert_int_equal(th_daemon_signal_wait(&d, 0, 10000), 0);
	th_daemon_cleanup(&d);

	close(fd);
	unlink(sock);
	free(sock);
}

/* Read the pty until needle shows (needle NULL: until the child closes). */
static int
pty_read(int fd, char **acc, size_t *len, const char *needle, int timeout_ms)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	long		 deadline = th_now_ms() + timeout_ms;
	char		 buf[512];
	ssize_t		 n;

	while (th_now_ms() < deadline) {
		if (needle != NULL && *acc != NULL &&
		    strstr(*acc, needle) != NULL)
			return (0);
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		/* Linux says EIO once the child's side is closed. */
		if ((n = read(fd, buf, sizeof buf)) <= 0)
			return (needle == NULL ? 0 : -1);
		*acc = xrealloc(*acc, *len + (size_t)n + 1);
		memcpy(*acc + *len, buf, (size_t)n);
		*len += (size_t)n;
		(*acc)[*len] = '\0';
	}
	return (-1);
}

/*
 * --create-operator at a terminal: the prompt shows, the typed password
 * does not come back on the screen, and the account is made with it.
 */
static void
test_create_operator_hides_typed_password(void **state)
{
	char	*cfg, *out = NULL, *v;
	size_t	 len = 0;
	FILE	*f;
	pid_t	 pid;
	int	 master, status;

	(void)state;
	cfg = xprintf("%s/service-op-%d.yaml", th_tmp(), (int)getpid());
	assert_non_null(f = fopen(cfg, "w"));
	fprintf(f, "database:\n  url: \"%s\"\npaths:\n  sql_dir: %s/sql\n",
	    db, th_root());
	fclose(f);

	if ((pid = forkpty(&master, NULL, NULL, NULL)) == 0) {
		unsetenv("CARELINE_PASSWORD");
		execl(th_bin(), th_bin(), "-c", cfg, "--create-operator",
		    "ptyadmin", "--role", "admin", (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	assert_int_equal(pty_read(master, &out, &len, "password (", 10000), 0);
	assert_int_equal(write(master, TYPED_PASSWORD "\n",
	    strlen(TYPED_PASSWORD) + 1), (ssize_t)strlen(TYPED_PASSWORD) + 1);
	assert_int_equal(pty_read(master, &out, &len, NULL, 30000), 0);
	close(master);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	print_message("terminal showed: %s\n", out);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(out, "created admin account \"ptyadmin\""));
	assert_null(strstr(out, TYPED_PASSWORD));
	/* Nor part of it: a terminal echoing would show it as typed. */
	assert_null(strstr(out, "Tr0ub"));

	v = th_pg_value(db, "SELECT count(*) FROM operators WHERE "
	    "name = 'ptyadmin' AND password_hash LIKE '$argon2id$%'");
	assert_string_equal(v, "1");
	free(v);
	free(out);
	unlink(cfg);
	free(cfg);
}

/*
 * Ctrl-C at the prompt: carelined dies of SIGINT as usual, but the
 * terminal it leaves echoes again (else the admin's shell types blind).
 * The test keeps the pty's terminal side open to look at it afterwards.
 */
static void
test_create_operator_interrupted_restores_echo(void **state)
{
	struct termios	 t;
	char		*cfg, *out = NULL;
	size_t		 len = 0;
	FILE		*f;
	pid_t		 pid;
	int		 master, slave, status;

	(void)state;
	cfg = xprintf("%s/service-op2-%d.yaml", th_tmp(), (int)getpid());
	assert_non_null(f = fopen(cfg, "w"));
	fprintf(f, "database:\n  url: \"%s\"\n", db);
	fclose(f);
	assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	if ((pid = fork()) == 0) {
		close(master);
		if (login_tty(slave) != 0)
			_exit(126);
		unsetenv("CARELINE_PASSWORD");
		execl(th_bin(), th_bin(), "-c", cfg, "--create-operator",
		    "ptyquit", (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	assert_int_equal(tcgetattr(slave, &t), 0);
	assert_true((t.c_lflag & ECHO) != 0);
	assert_int_equal(pty_read(master, &out, &len, "password (", 10000), 0);
	assert_int_equal(tcgetattr(slave, &t), 0);
	assert_true((t.c_lflag & ECHO) == 0);

	assert_int_equal(write(master, "\003", 1), 1);	/* ^C: VINTR */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGINT);
	assert_int_equal(tcgetattr(slave, &t), 0);
	assert_true((t.c_lflag & ECHO) != 0);

	close(slave);
	close(master);
	free(out);
	unlink(cfg);
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stopping_extends_the_stop_timeout),
		cmocka_unit_test(test_create_operator_hides_typed_password),
		cmocka_unit_test(test_create_operator_interrupted_restores_echo),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
