#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <curl/curl.h>

#include <libpq-fe.h>

#include "config.h"
#include "db_listen.h"
#include "db_migrate.h"
#include "db_pool.h"
#include "http_auth.h"
#include "http_events.h"
#include "http_router.h"
#include "http_server.h"
#include "http_static.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "password.h"
#include "sd_notify.h"
#include "text.h"
#include "throttle.h"
#include "xmalloc.h"

#ifndef CARELINE_VERSION
#define CARELINE_VERSION	"0.1.0"
#endif
#ifndef CARELINE_CONFIG_FILE
#define CARELINE_CONFIG_FILE	"/etc/careline/careline.yaml"
#endif

#define MAIN_DRAIN_CHECK_MS	20
#define MAIN_LOG_TICK_MS	1000	/* held-back log lines summarised */

/* Everything the running daemon owns; freed in this order, in main. */
struct carelined {
	struct event_base	*base;
	struct config		*cfg;
	struct metrics		*metrics;
	struct db_pool		*db;		/* HTTP requests */
	struct db_pool		*dispatch_db;	/* the outbox's */
	struct db_listen	*listen;	/* LISTEN, one connection */
	struct outbox		*outbox;
	struct events_hub	*events;
	struct static_files	*files;
	struct auth_cache	*auth;		/* the credentials cache */
	struct throttle		*throttle;	/* sign-ins */
	struct server		*srv;
	struct event		*sigterm, *sigint, *sighup;
	struct event		*watchdog;
	struct event		*drain;
	struct event		*open_timer;	/* serve even if not all up */
	struct event		*log_tick;
	struct timespec		 drain_start;
	int			 accepting;	/* the listener was enabled */
	int			 ready;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: carelined [-c FILE]            run the daemon\n"
	    "       carelined [-c FILE] --migrate  apply pending schema and "
	    "function files\n"
	    "       carelined [-c FILE] --create-token --role ROLE --name NAME\n"
	    "                 [--provider-id ID]  print a new API token once\n"
	    "                                     (ROLE: operator, admin, "
	    "provider)\n"
	    "       carelined [-c FILE] --create-operator NAME [--role admin]\n"
	    "                 a console account; the password is read from\n"
	    "                 CARELINE_PASSWORD or the first line of stdin\n"
	    "       carelined --check-config FILE  validate a configuration\n"
	    "       carelined --version\n"
	    "FILE defaults to %s; CARELINE_DATABASE_URL overrides "
	    "database.url.\n", CARELINE_CONFIG_FILE);
}

/*
 * Accept connections. Until then the socket is bound and listening, so
 * a client that comes early waits in the backlog instead of being told
 * 503 by a daemon whose pool is still connecting.
 */
static void
main_accept(struct carelined *cl)
{
	if (cl->accepting)
		return;
	cl->accepting = 1;
	evtimer_del(cl->open_timer);
	server_accept(cl->srv, 1);
	log_info("http: accepting connections on %s", server_bound(cl->srv));
}

/* Every connection of every pool: a fresh daemon serves at full width. */
static int
main_pools_full(const struct carelined *cl)
{
	return (db_pool_full(cl->db) && db_pool_full(cl->dispatch_db) &&
	    db_listen_up(cl->listen));
}

static void
main_pool_up(void *arg)
{
	struct carelined	*cl = arg;

	if (!cl->accepting && main_pools_full(cl))
		main_accept(cl);
	if (!cl->accepting || cl->ready || cl->drain != NULL ||
	    db_pool_usable(cl->db) == 0)
		return;
	cl->ready = 1;
	sd_notify_ready();
	log_info("carelined ready");
}

/*
 * The database is not all there after database.connect_timeout: serve
 * anyway, so /healthz answers and /readyz can say what is wrong.
 */
static void
main_open_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct carelined	*cl = arg;
	struct db_stats		 a, b, c;

	(void)fd;
	(void)what;
	db_pool_stats(cl->db, &a);
	db_pool_stats(cl->dispatch_db, &b);
	db_listen_stats(cl->listen, &c);
	log_warn("database: %d of %d connections up after %d ms; serving "
	    "anyway", a.connected + b.connected + c.connected,
	    a.size + b.size + c.size, cl->cfg->db_connect_timeout_ms);
	main_accept(cl);
	main_pool_up(cl);
}

static void
main_log_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_tick();
}

/*
 * A credential ended somewhere (NOTIFY careline_auth): drop it from the
 * cache. After a reconnect (NULL) anything may have ended: drop all.
 */
static void
main_auth_notified(const char *channel, const char *payload, void *arg)
{
	auth_cache_notified(arg, channel == NULL ? NULL : payload);
}

/* A dropped credential: its streams are checked at once, not in 2 s. */
static void
main_auth_changed(void *arg)
{
	events_hub_notify(arg);
}

/* The consoles' live feed, and a catch-up after a reconnect (NULL). */
static void
main_events_notified(const char *channel, const char *payload, void *arg)
{
	(void)channel;
	(void)payload;
	events_hub_notified(arg);
}

static long
main_ms_since(const struct timespec *t)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((now.tv_sec - t->tv_sec) * 1000 +
	    (now.tv_nsec - t->tv_nsec) / 1000000);
}

static void
main_drain_check(evutil_socket_t fd, short what, void *arg)
{
	struct carelined	*cl = arg;

	(void)fd;
	(void)what;
	/* Password threads report to the loop: it must outlive them. */
	if (password_busy() > 0)
		return;
	/*
	 * Idle means every reply was written (queued is not enough: the
	 * exit would close the connection under it) and every result was
	 * recorded: failures are kept.
	 */
	if (server_inflight(cl->srv) == 0 && server_unsent(cl->srv) == 0 &&
	    outbox_idle(cl->outbox) &&
	    events_hub_ending(cl->events) == 0) {
		log_info("stopping: all requests answered, all webhook "
		    "attempts recorded");
		event_base_loopexit(cl->base, NULL);
	} else if (main_ms_since(&cl->drain_start) >=
	    cl->cfg->http_shutdown_grace_ms) {
		log_warn("stopping: after %d ms, %d requests still open and "
		    "%d webhook attempts not recorded (made again when their "
		    "leases lapse)", cl->cfg->http_shutdown_grace_ms,
		    server_inflight(cl->srv),
		    outbox_unrecorded(cl->outbox));
		event_base_loopexit(cl->base, NULL);
	}
}

static void
main_signal_stop(evutil_socket_t sig, short what, void *arg)
{
	struct carelined	*cl = arg;
	struct timeval		 tv = { 0, MAIN_DRAIN_CHECK_MS * 1000 };

	(void)what;
	if (cl->drain != NULL) {
		log_warn("stopping now: second signal");
		event_base_loopbreak(cl->base);
		return;
	}
	log_info("stopping on %s: draining %d requests and %d webhook "
	    "attempts", strsignal((int)sig), server_inflight(cl->srv),
	    outbox_unrecorded(cl->outbox));
	sd_notify_stopping(cl->cfg->http_shutdown_grace_ms);
	server_drain(cl->srv);
	/* Consoles reconnect elsewhere with Last-Event-ID. */
	events_hub_close_all(cl->events);
	outbox_stop(cl->outbox);
	clock_gettime(CLOCK_MONOTONIC, &cl->drain_start);
	cl->drain = event_new(cl->base, -1, EV_PERSIST, main_drain_check, cl);
	event_add(cl->drain, &tv);
	main_drain_check(-1, 0, cl);
}

/* A new file is parsed whole and applied only when valid. */
static void
main_signal_reload(evutil_socket_t sig, short what, void *arg)
{
	struct carelined	*cl = arg;
	struct config		*next;
	char			*cause;

	(void)sig;
	(void)what;
	sd_notify_reloading();
	if ((next = config_load(cl->cfg->path, &cause)) == NULL) {
		log_error("config: reload refused, keeping the running "
		    "configuration: %s", cause);
		free(cause);
	} else {
		config_reload(cl->cfg, next);
		log_configure(cl->cfg->log_level, cl->cfg->log_format);
		config_free(next);
		log_info("config: reloaded %s", cl->cfg->path);
	}
	sd_notify_ready();
}

/*
 * Make an API token and print it once; only its hash is stored. Runs
 * before any loop exists, so a blocking connection is fine.
 */
static int
main_create_token(struct config *cfg, const char *role, const char *name,
    const char *provider)
{
	unsigned char	 hash[CRYPTO_SHA256_LEN];
	char		 token[AUTH_TOKEN_LEN + 1], hashp[2 * CRYPTO_SHA256_LEN + 3];
	char		 prefix[9], *cause;
	const char	*params[6];
	enum auth_role	 r;
	PGconn		*pg;
	PGresult	*res;
	int		 rc = 1;

	if (role == NULL || auth_role_parse(role, &r) != 0) {
		fprintf(stderr, "carelined: --role must be operator, admin or "
		    "provider\n");
		return (2);
	}
	if (name == NULL || *name == '\0' || strlen(name) > 100) {
		fprintf(stderr, "carelined: --name must be 1 to 100 "
		    "characters\n");
		return (2);
	}
	if ((r == AUTH_PROVIDER) != (provider != NULL)) {
		fprintf(stderr, "carelined: --provider-id goes with --role "
		    "provider, and only with it\n");
		return (2);
	}
	if (migrate_check(cfg, &cause) != 0) {
		fprintf(stderr, "carelined: %s\n", cause);
		free(cause);
		return (1);
	}
	auth_token_new(token, hash);
	auth_hash_param(hash, hashp);
	memcpy(prefix, token, 8);
	prefix[8] = '\0';
	params[0] = "cli";
	params[1] = name;
	params[2] = role;
	params[3] = provider;
	params[4] = hashp;
	params[5] = prefix;
	pg = PQconnectdb(cfg->db_url);
	res = PQexecParams(pg, "SELECT (careline_token_create($1, $2, $3, $4, "
	    "$5::bytea, $6)->'body'->>'id')", 6, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0)) {
		printf("%s\n", token);
		fprintf(stderr, "created %s token %s (id %s) for \"%s\"; it is "
		    "shown only this once\n", role, prefix, PQgetvalue(res, 0, 0),
		    name);
		rc = 0;
	} else
		fprintf(stderr, "carelined: could not create the token: %s",
		    PQstatus(pg) != CONNECTION_OK ? PQerrorMessage(pg) :
		    PQresultErrorMessage(res));
	explicit_bzero(token, sizeof token);
	PQclear(res);
	PQfinish(pg);
	return (rc);
}

/* The terminal as it was before echo went off, for a signal to restore. */
static struct termios	main_tty_saved;

static void
main_tty_restore(int sig)
{
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &main_tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * The password for a new account, from the environment or stdin. Typed
 * at a terminal it is not echoed (anyone behind the admin, or a screen
 * recording, would see it), and echo comes back even on Ctrl-C.
 */
static char *
main_read_password(void)
{
	static const int	 sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT,
				    SIGTSTP };
	const char		*env = getenv("CARELINE_PASSWORD");
	struct termios		 quiet;
	char			 line[PASSWORD_MAX_LEN + 2], *p;
	size_t			 i;
	int			 tty;

	if (env != NULL)
		return (xstrdup(env));
	tty = isatty(STDIN_FILENO) &&
	    tcgetattr(STDIN_FILENO, &main_tty_saved) == 0;
	if (tty) {
		for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
			signal(sigs[i], main_tty_restore);
		quiet = main_tty_saved;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		/* Only now: what is typed after the prompt must not show. */
		fprintf(stderr, "password (%d to %d characters): ",
		    PASSWORD_MIN_LEN, PASSWORD_MAX_LEN);
	}
	p = fgets(line, sizeof line, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &main_tty_saved);
		for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
			signal(sigs[i], SIG_DFL);
		fputc('\n', stderr);
	}
	if (p == NULL)
		return (NULL);
	line[strcspn(line, "\r\n")] = '\0';
	p = xstrdup(line);
	explicit_bzero(line, sizeof line);
	return (p);
}

static int
main_create_operator(struct config *cfg, const char *name, const char *role)
{
	const char	*params[4], *why;
	char		*password, *hash, *cause, *folded;
	PGconn		*pg;
	PGresult	*res;
	int		 rc = 1;

	if (role == NULL)
		role = "operator";
	if (strcmp(role, "operator") != 0 && strcmp(role, "admin") != 0) {
		fprintf(stderr, "carelined: --role must be operator or admin\n");
		return (2);
	}
	/* As POST /v1/operators: folded, checked before any hash exists. */
	if ((folded = text_fold_name(name, 64, &why)) == NULL) {
		fprintf(stderr, "carelined: the name %s\n", why);
		return (2);
	}
	name = folded;
	if ((password = main_read_password()) == NULL ||
	    strlen(password) < PASSWORD_MIN_LEN ||
	    strlen(password) > PASSWORD_MAX_LEN) {
		fprintf(stderr, "carelined: the password must be %d to %d "
		    "characters\n", PASSWORD_MIN_LEN, PASSWORD_MAX_LEN);
		free(password);
		free(folded);
		return (2);
	}
	if (migrate_check(cfg, &cause) != 0) {
		fprintf(stderr, "carelined: %s\n", cause);
		free(cause);
		free(password);
		free(folded);
		return (1);
	}
	password_init();
	hash = password_hash(password);
	explicit_bzero(password, strlen(password));
	free(password);
	if (hash == NULL) {
		fprintf(stderr, "carelined: cannot hash the password\n");
		free(folded);
		return (1);
	}
	params[0] = "cli";
	params[1] = name;
	params[2] = hash;
	params[3] = role;
	pg = PQconnectdb(cfg->db_url);
	/* The route's function: a refusal is an answer, not a logged error. */
	res = PQexecParams(pg, "SELECT (x->>'status')::int, x->'body'->>'id', "
	    "x->'body'->'error'->>'message' FROM "
	    "careline_api_operators_create($1, $2, $3, $4) x", 4, NULL, params,
	    NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK &&
	    atoi(PQgetvalue(res, 0, 0)) == 201) {
		printf("created %s account \"%s\" (id %s)\n", role, name,
		    PQgetvalue(res, 0, 1));
		rc = 0;
	} else if (PQresultStatus(res) == PGRES_TUPLES_OK)
		fprintf(stderr, "carelined: %s\n", PQgetvalue(res, 0, 2));
	else
		fprintf(stderr, "carelined: could not create the account: %s",
		    PQstatus(pg) != CONNECTION_OK ? PQerrorMessage(pg) :
		    PQresultErrorMessage(res));
	PQclear(res);
	PQfinish(pg);
	free(hash);
	free(folded);
	return (rc);
}

static int
main_run(struct config *cfg)
{
	struct carelined	 cl;
	struct timeval		 tv;
	char			*cause;

	memset(&cl, 0, sizeof cl);
	cl.cfg = cfg;
	if (migrate_check(cfg, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		return (1);
	}
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	if ((cl.files = static_load(cfg->static_dir, &cause)) == NULL) {
		log_error("static.dir: %s", cause);
		free(cause);
		return (1);
	}
	password_init();

	/* Password checks run on threads and wake the loop with an event. */
	evthread_use_pthreads();
	cl.base = event_base_new();
	cl.metrics = metrics_new(nroutes);
	routes_metrics(cl.metrics);
	/* Separate pools: no kind of work can take another's connections. */
	cl.db = db_pool_new(cl.base, cfg, main_pool_up, &cl);
	cl.dispatch_db = db_pool_new_sized(cl.base, cfg, "dispatcher",
	    cfg->db_dispatcher_connections, main_pool_up, &cl);
	cl.listen = db_listen_new(cl.base, cfg, main_pool_up, &cl);
	cl.outbox = outbox_new(cl.base, cfg, cl.dispatch_db, cl.listen);
	cl.events = events_hub_new(cl.base, cfg, cl.db);
	db_listen_subscribe(cl.listen, "careline_events", main_events_notified,
	    cl.events);
	cl.auth = auth_cache_new();
	cl.throttle = throttle_new();
	db_listen_subscribe(cl.listen, "careline_auth", main_auth_notified,
	    cl.auth);
	auth_cache_on_invalidate(cl.auth, main_auth_changed, cl.events);
	cl.srv = server_new(cl.base, cfg);
	cl.srv->db = cl.db;
	cl.srv->metrics = cl.metrics;
	cl.srv->auth = cl.auth;
	cl.srv->throttle = cl.throttle;
	cl.srv->outbox = cl.outbox;
	cl.srv->events = cl.events;
	cl.srv->files = cl.files;
	cl.srv->route = router_request;
	cl.srv->nroutes = nroutes;
	if (server_listen(cl.srv, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		server_free(cl.srv);
		auth_cache_free(cl.auth);
		throttle_free(cl.throttle);
		db_listen_free(cl.listen);
		db_pool_free(cl.dispatch_db);
		db_pool_free(cl.db);
		events_hub_free(cl.events);
		outbox_free(cl.outbox);
		metrics_free(cl.metrics);
		static_free(cl.files);
		event_base_free(cl.base);
		return (1);
	}
	cl.sigterm = evsignal_new(cl.base, SIGTERM, main_signal_stop, &cl);
	cl.sigint = evsignal_new(cl.base, SIGINT, main_signal_stop, &cl);
	cl.sighup = evsignal_new(cl.base, SIGHUP, main_signal_reload, &cl);
	event_add(cl.sigterm, NULL);
	event_add(cl.sigint, NULL);
	event_add(cl.sighup, NULL);
	cl.watchdog = sd_notify_watchdog_start(cl.base);
	/* Bound already, so a port in use fails the start; not accepting. */
	server_accept(cl.srv, 0);
	cl.open_timer = evtimer_new(cl.base, main_open_timeout, &cl);
	tv.tv_sec = cfg->db_connect_timeout_ms / 1000;
	tv.tv_usec = (cfg->db_connect_timeout_ms % 1000) * 1000;
	evtimer_add(cl.open_timer, &tv);
	cl.log_tick = event_new(cl.base, -1, EV_PERSIST, main_log_tick, NULL);
	tv.tv_sec = MAIN_LOG_TICK_MS / 1000;
	tv.tv_usec = (MAIN_LOG_TICK_MS % 1000) * 1000;
	event_add(cl.log_tick, &tv);
	db_pool_start(cl.db);
	db_pool_start(cl.dispatch_db);
	db_listen_start(cl.listen);
	outbox_start(cl.outbox);
	events_hub_start(cl.events);

	event_base_dispatch(cl.base);

	/* Password threads report to this loop: let them land first. */
	while (password_busy() > 0)
		event_base_loop(cl.base, EVLOOP_ONCE);
	events_hub_close_all(cl.events);
	/*
	 * The pools first: their callbacks (failed with DB_ERR_SHUTDOWN)
	 * still find the requests, the outbox and the hub they belong to.
	 */
	db_pool_free(cl.db);
	db_pool_free(cl.dispatch_db);
	db_listen_free(cl.listen);
	server_free(cl.srv);
	auth_cache_free(cl.auth);
	throttle_free(cl.throttle);
	events_hub_free(cl.events);
	outbox_free(cl.outbox);
	static_free(cl.files);
	metrics_free(cl.metrics);
	if (cl.watchdog != NULL)
		event_free(cl.watchdog);
	if (cl.drain != NULL)
		event_free(cl.drain);
	event_free(cl.open_timer);
	event_free(cl.log_tick);
	event_free(cl.sigterm);
	event_free(cl.sigint);
	event_free(cl.sighup);
	event_base_free(cl.base);
	log_info("carelined stopped");
	return (0);
}

int
main(int argc, char **argv)
{
	enum { OPT_CHECK = 256, OPT_MIGRATE, OPT_VERSION, OPT_TOKEN, OPT_ROLE,
	    OPT_NAME, OPT_PROVIDER, OPT_OPERATOR };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, OPT_CHECK },
		{ "migrate", no_argument, NULL, OPT_MIGRATE },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "create-token", no_argument, NULL, OPT_TOKEN },
		{ "create-operator", required_argument, NULL, OPT_OPERATOR },
		{ "role", required_argument, NULL, OPT_ROLE },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "provider-id", required_argument, NULL, OPT_PROVIDER },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = CARELINE_CONFIG_FILE;
	const char	*role = NULL, *name = NULL, *provider = NULL;
	const char	*operator = NULL;
	struct config	*cfg;
	char		*cause;
	int		 ch, migrate = 0, token = 0, rc;

	/* Before any libevent call, thread, JSON value or curl handle. */
	xmalloc_libraries();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "carelined: cannot initialise libcurl\n");
		return (1);
	}
	log_init("carelined");
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case OPT_CHECK:
			if ((cfg = config_load(optarg, &cause)) == NULL) {
				fprintf(stderr, "%s\n", cause);
				free(cause);
				return (1);
			}
			config_free(cfg);
			printf("%s: OK\n", optarg);
			return (0);
		case OPT_MIGRATE:
			migrate = 1;
			break;
		case OPT_TOKEN:
			token = 1;
			break;
		case OPT_OPERATOR:
			operator = optarg;
			break;
		case OPT_ROLE:
			role = optarg;
			break;
		case OPT_NAME:
			name = optarg;
			break;
		case OPT_PROVIDER:
			provider = optarg;
			break;
		case OPT_VERSION:
			printf("carelined %s (schema %d)\n", CARELINE_VERSION,
			    migrate_required_version());
			return (0);
		case 'h':
			usage(stdout);
			return (0);
		default:
			usage(stderr);
			return (2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		return (2);
	}
	if ((cfg = config_load(path, &cause)) == NULL) {
		fprintf(stderr, "carelined: %s\n", cause);
		free(cause);
		return (1);
	}
	log_configure(cfg->log_level, cfg->log_format);

	if (operator != NULL)
		rc = main_create_operator(cfg, operator, role);
	else if (token)
		rc = main_create_token(cfg, role, name, provider);
	else if (migrate) {
		rc = migrate_run(cfg, &cause) == 0 ? 0 : 1;
		if (rc != 0) {
			fprintf(stderr, "carelined: migrate: %s\n", cause);
			free(cause);
		}
	} else {
		log_info("carelined %s starting (schema %d)",
		    CARELINE_VERSION, migrate_required_version());
		rc = main_run(cfg);
	}
	config_free(cfg);
	curl_global_cleanup();
	return (rc);
}
