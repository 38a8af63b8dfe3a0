#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "http_server.h"
#include "http_static.h"
#include "xmalloc.h"

#define STATIC_CSP \
	"default-src 'self'; script-src 'self'; style-src 'self'; " \
	"img-src 'self' data:; connect-src 'self'; font-src 'self'; " \
	"object-src 'none'; frame-ancestors 'none'; base-uri 'none'; " \
	"form-action 'self'"
#define STATIC_MAX_DEPTH	4

struct static_file {
	char		*path;		/* "/js/app.js" */
	const char	*type;
	char		*data;
	size_t		 len;
};

struct static_files {
	struct static_file	 files[STATIC_MAX_FILES];
	size_t			 n;
	size_t			 bytes;
};

static const struct {
	const char	*ext;
	const char	*type;
} static_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".woff2", "font/woff2" },
	{ ".txt", "text/plain; charset=utf-8" },
};

static const char *
static_type(const char *name)
{
	const char	*dot = strrchr(name, '.');
	size_t		 i;

	if (dot == NULL)
		return (NULL);
	for (i = 0; i < sizeof static_types / sizeof *static_types; i++) {
		if (strcmp(dot, static_types[i].ext) == 0)
			return (static_types[i].type);
	}
	return (NULL);
}

static int
static_add(struct static_files *sf, const char *fs, const char *url,
    const char *type, char **cause)
{
	struct static_file	*f;
	struct stat		 sb;
	FILE			*fp;

	if ((fp = fopen(fs, "rb")) == NULL || fstat(fileno(fp), &sb) != 0) {
		xasprintf(cause, "%s: %s", fs, strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return (-1);
	}
	if (sf->n == STATIC_MAX_FILES || sf->bytes + (size_t)sb.st_size >
	    STATIC_MAX_BYTES) {
		xasprintf(cause, "%s: more than %d files or %d bytes", fs,
		    STATIC_MAX_FILES, STATIC_MAX_BYTES);
		fclose(fp);
		return (-1);
	}
	f = &sf->files[sf->n];
	f->data = xmalloc((size_t)sb.st_size + 1);
	f->len = fread(f->data, 1, (size_t)sb.st_size, fp);
	fclose(fp);
	f->path = xstrdup(url);
	f->type = type;
	sf->bytes += f->len;
	sf->n++;
	return (0);
}

/* Regular files with a known type; no dot-files, no symlinks followed. */
static int
static_walk(struct static_files *sf, const char *fsdir, const char *urldir,
    int depth, char **cause)
{
	struct dirent	*de;
	struct stat	 sb;
	const char	*type;
	char		*fs, *url;
	DIR		*d;
	int		 rc = 0;

	if ((d = opendir(fsdir)) == NULL) {
		xasprintf(cause, "%s: %s", fsdir, strerror(errno));
		return (-1);
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		xasprintf(&fs, "%s/%s", fsdir, de->d_name);
		xasprintf(&url, "%s/%s", urldir, de->d_name);
		if (lstat(fs, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			if (depth < STATIC_MAX_DEPTH)
				rc = static_walk(sf, fs, url, depth + 1, cause);
		} else if (lstat(fs, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    (type = static_type(de->d_name)) != NULL)
			rc = static_add(sf, fs, url, type, cause);
		free(fs);
		free(url);
	}
	closedir(d);
	return (rc);
}

struct static_files *
static_load(const char *dir, char **cause)
{
	struct static_files	*sf;
	struct stat		 sb;

	sf = xcalloc(1, sizeof *sf);
	if (stat(dir, &sb) != 0) {
		log_warn("static: %s: %s; the console is not served", dir,
		    strerror(errno));
		return (sf);
	}
	if (static_walk(sf, dir, "", 0, cause) != 0) {
		static_free(sf);
		return (NULL);
	}
	log_info("static: %zu files, %zu bytes from %s", sf->n, sf->bytes,
	    dir);
	return (sf);
}

void
static_free(struct static_files *sf)
{
	size_t	i;

	if (sf == NULL)
		return;
	for (i = 0; i < sf->n; i++) {
		free(sf->files[i].path);
		free(sf->files[i].data);
	}
	free(sf);
}

size_t
static_count(const struct static_files *sf)
{
	return (sf->n);
}

/* The file served at path, or -1. */
static int
static_find(const struct static_files *sf, const char *path)
{
	size_t	i;

	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (i = 0; i < sf->n; i++) {
		if (strcmp(sf->files[i].path, path) == 0)
			return ((int)i);
	}
	return (-1);
}

int
static_exists(const struct static_files *sf, const char *path)
{
	return (static_find(sf, path) != -1);
}

int
static_serve(struct request *r, const struct static_files *sf,
    const char *path)
{
	struct evkeyvalq	*h;
	int			 i;

	if ((i = static_find(sf, path)) == -1)
		return (-1);
	h = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(h, "Content-Security-Policy", STATIC_CSP);
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
	request_reply_raw(r, 200, sf->files[i].type, sf->files[i].data,
	    sf->files[i].len);
	return (0);
}
