/*
 * Matching checked against an independent reference written here: every
 * provider's travel minutes by haversine x detour / speed in C, the same
 * rules applied, and the ranked lists compared with what GET /v1/matches
 * answers, for hundreds of random calls. Then the edges, one by one.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "xmalloc.h"

#define NPROVIDERS	160
#define NRESIDENTS	120
#define NCALLS		320
#define MAX_MINUTES	15.0
#define DETOUR		1.3
#define LIMIT		5
/* PostGIS's sphere: radius (2a + b) / 3 of WGS 84. */
#define EARTH_R		6371008.7714
#define DEG		(M_PI / 180.0)

static const char *const services[] = {
	"meal", "housekeeping", "daycare", "companionship"
};
static const char *const modes[] = { "walk", "ebike", "car", "shuttle" };
static const double mode_kmh[] = { 4, 15, 25, 20 };
static const char *const mobilities[] = {
	"walk", "ebike", "car", "wheelchair", "bedridden"
};
/* Resident's own speed for day care, by mobility; 0: cannot travel. */
static const double mobility_kmh[] = { 4, 15, 25, 2.5, 0 };

/* Local (UTC+8) moments the calls are wanted at, URL-encoded ('+'). */
static const struct {
	const char	*at;
	int		 dow, minute;
} moments[] = {
	{ "2026-12-01T12:00:00%2B08:00", 2, 720 },	/* Tuesday noon */
	{ "2026-12-01T19:30:00%2B08:00", 2, 1170 },	/* Tuesday evening */
	{ "2026-12-06T10:00:00%2B08:00", 7, 600 },	/* Sunday morning */
};

struct prov {
	long long	 id;
	int		 services;	/* bit per services[] */
	double		 lat, lon;
	int		 mode;
	int		 spare;
	int		 active;
	double		 offered;	/* epoch, -1 = never */
	int		 weekdays_only;	/* Mo-Fr 08:00-18:00, else 24/7 */
};

struct res {
	long long	 id;
	double		 lat, lon;
	int		 mobility;
};

struct cand {
	long long	 id;
	double		 minutes;
	int		 spare;
	double		 offered;
};

static char		*db, *oper;
static struct th_daemon	 d;
static struct prov	 provs[NPROVIDERS];
static struct res	 ress[NRESIDENTS];

static double
haversine(double lat1, double lon1, double lat2, double lon2)
{
	double	dlat = (lat2 - lat1) * DEG, dlon = (lon2 - lon1) * DEG;
	double	a = sin(dlat / 2) * sin(dlat / 2) + cos(lat1 * DEG) *
		    cos(lat2 * DEG) * sin(dlon / 2) * sin(dlon / 2);

	return (2 * EARTH_R * asin(fmin(1.0, sqrt(a))));
}

static double
rnd(double lo, double hi)
{
	return (lo + (hi - lo) * (random() / (double)RAND_MAX));
}

static int
cand_cmp(const void *a, const void *b)
{
	const struct cand	*x = a, *y = b;

	if (x->minutes != y->minutes)
		return (x->minutes < y->minutes ? -1 : 1);
	if (x->spare != y->spare)
		return (x->spare > y->spare ? -1 : 1);
	if (x->offered != y->offered) {
		if (x->offered < 0)
			return (-1);
		if (y->offered < 0)
			return (1);
		return (x->offered < y->offered ? -1 : 1);
	}
	return (x->id < y->id ? -1 : x->id > y->id);
}

/* The reference: every rule of DESIGN.md's matching, in plain C. */
static int
reference(const struct res *r, int svc, int moment, struct cand *out)
{
	struct cand	all[NPROVIDERS];
	const struct prov *p;
	double		 kmh, minutes;
	int		 i, n = 0, open;

	for (i = 0; i < NPROVIDERS; i++) {
		p = &provs[i];
		if (!p->active || !(p->services & (1 << svc)) || p->spare <= 0)
			continue;
		open = !p->weekdays_only || (moments[moment].dow <= 5 &&
		    moments[moment].minute >= 480 &&
		    moments[moment].minute < 1080);
		if (!open)
			continue;
		if (svc == 2 && p->mode != 3)
			kmh = mobility_kmh[r->mobility];
		else
			kmh = mode_kmh[p->mode];
		if (kmh <= 0)
			continue;
		minutes = haversine(r->lat, r->lon, p->lat, p->lon) * DETOUR /
		    (kmh * 1000.0 / 60.0);
		if (minutes > MAX_MINUTES + 1e-6)
			continue;
		all[n].id = p->id;
		all[n].minutes = minutes;
		all[n].spare = p->spare;
		all[n].offered = p->offered;
		n++;
	}
	qsort(all, n, sizeof *all, cand_cmp);
	if (n > LIMIT)
		n = LIMIT;
	memcpy(out, all, n * sizeof *all);
	return (n);
}

static void
sql(const char *q)
{
	if (th_pg_exec(db, q) != 0)
		abort();
}

static long long
sql_id(const char *q)
{
	char		*v = th_pg_value(db, q);
	long long	 id;

	if (v == NULL)
		abort();
	id = atoll(v);
	free(v);
	return (id);
}

static const char *
hours_text(int weekdays_only)
{
	return (weekdays_only ? "Mo-Fr 08:00-18:00" : "24/7");
}

static long long
insert_provider(const char *name, int svcmask, double lat, double lon,
    int mode, int capacity, int active, const char *offered,
    int weekdays_only)
{
	char		*q, list[80] = "";
	long long	 id;
	int		 i, dow;

	for (i = 0; i < 4; i++) {
		if (svcmask & (1 << i))
			snprintf(list + strlen(list), sizeof list - strlen(list),
			    "%s%s", *list != '\0' ? "," : "", services[i]);
	}
	q = xprintf("INSERT INTO providers (name, services, location, "
	    "travel_mode, capacity, opening_hours, active, last_offered_at) "
	    "VALUES ('%s', '{%s}', ST_SetSRID(ST_MakePoint(%.12f, %.12f), 4326)"
	    "::geography, '%s', %d, '%s', %s, %s) RETURNING id", name, list,
	    lon, lat, modes[mode], capacity, hours_text(weekdays_only),
	    active ? "true" : "false", offered);
	id = sql_id(q);
	free(q);
	for (dow = 1; dow <= 7; dow++) {
		if (weekdays_only && dow > 5)
			continue;
		q = xprintf("INSERT INTO provider_hours VALUES (%lld, %d, "
		    "'%s', '%s')", id, dow, weekdays_only ? "08:00" : "00:00",
		    weekdays_only ? "18:00" : "24:00");
		sql(q);
		free(q);
	}
	return (id);
}

static long long
insert_resident(double lat, double lon, const char *mobility)
{
	char		*q;
	long long	 id;

	q = xprintf("INSERT INTO residents (name, phone, address, location, "
	    "mobility) VALUES ('测试', '13900001111', '荷塘区', ST_SetSRID("
	    "ST_MakePoint(%.12f, %.12f), 4326)::geography, '%s') RETURNING id",
	    lon, lat, mobility);
	id = sql_id(q);
	free(q);
	return (id);
}

/* jobs accepted and under way for a provider: they use its capacity. */
static void
insert_busy(long long provider, long long resident, int jobs)
{
	char	*q;
	int	 i;

	for (i = 0; i < jobs; i++) {
		q = xprintf("WITH c AS (INSERT INTO calls (resident_id, "
		    "caller_phone, service, wanted_at, status) VALUES (%lld, "
		    "'13900001111', 'meal', now(), 'accepted') RETURNING id) "
		    "INSERT INTO offers (call_id, provider_id, rank, "
		    "travel_minutes, status, offered_at, answered_at) SELECT "
		    "id, %lld, 1, 1, 'accepted', now(), now() FROM c", resident,
		    provider);
		sql(q);
		free(q);
	}
}

static int
group_setup(void **state)
{
	struct prov	*p;
	char		 offered[64];
	long long	 filler;
	int		 i, capacity, busy;

	(void)state;
	srandom(20261129);
	if (th_group_up("matching", &db, NULL, &oper, &d) != 0)
		return (-1);
	filler = insert_resident(27.99, 113.40, "walk");
	for (i = 0; i < NPROVIDERS; i++) {
		p = &provs[i];
		p->services = 1 + random() % 15;
		/* Some share a place with another: ties in minutes. */
		if (i > 0 && random() % 5 == 0) {
			int twin = random() % i;

			p->lat = provs[twin].lat;
			p->lon = provs[twin].lon;
		} else {
			p->lat = rnd(27.860, 27.900);
			p->lon = rnd(113.170, 113.210);
		}
		p->mode = random() % 4;
		capacity = 1 + random() % 3;
		busy = random() % 4 == 0 ? random() % (capacity + 1) : 0;
		p->spare = capacity - busy;
		p->active = random() % 10 != 0;
		p->weekdays_only = random() % 3 == 0;
		if (random() % 2 == 0) {
			p->offered = 1764900000 + random() % 100000;
			snprintf(offered, sizeof offered, "to_timestamp(%.0f)",
			    p->offered);
		} else {
			p->offered = -1;
			snprintf(offered, sizeof offered, "NULL");
		}
		p->id = insert_provider("p", p->services, p->lat, p->lon,
		    p->mode, capacity, p->active, offered, p->weekdays_only);
		insert_busy(p->id, filler, busy);
	}
	for (i = 0; i < NRESIDENTS; i++) {
		/* Wider than the providers: some calls find nobody. */
		ress[i].lat = rnd(27.840, 27.920);
		ress[i].lon = rnd(113.140, 113.240);
		ress[i].mobility = random() % 5;
		ress[i].id = insert_resident(ress[i].lat, ress[i].lon,
		    mobilities[ress[i].mobility]);
	}
	sql("ANALYZE providers, provider_hours, residents, calls, offers");
	return (th_daemon_start(&d, db, "matching:\n  max_minutes: 15\n"
	    "  detour_factor: 1.3\n  max_candidates: 5\n  speed_kmh:\n"
	    "    walk: 4\n    ebike: 15\n    car: 25\n    shuttle: 20\n"
	    "    wheelchair: 2.5\n", 2, NULL));
}

static json_t *
matches(long long resident, const char *service, const char *at)
{
	json_t	*j;
	char	*path;
	long	 st;

	path = xprintf("/v1/matches?resident_id=%lld&service=%s&at=%s",
	    resident, service, at);
	st = th_api(d.url, oper, "GET", path, NULL, &j);
	free(path);
	assert_int_equal(st, 200);
	return (json_object_get(j, "candidates") != NULL ? j : NULL);
}

static void
test_reference_comparison(void **state)
{
	struct cand	 ref[LIMIT];
	json_t		*j, *cands, *c;
	int		 k, n, i, r, s, m, compared = 0, nonempty = 0;

	(void)state;
	for (k = 0; k < NCALLS; k++) {
		r = random() % NRESIDENTS;
		s = random() % 4;
		m = random() % 3;
		n = reference(&ress[r], s, m, ref);
		j = matches(ress[r].id, services[s], moments[m].at);
		assert_non_null(j);
		cands = json_object_get(j, "candidates");
		if ((int)json_array_size(cands) != n)
			fprintf(stderr, "call %d (resident %lld, %s, %s): api "
			    "%zu candidates, reference %d\n", k, ress[r].id,
			    services[s], moments[m].at, json_array_size(cands),
			    n);
		assert_int_equal(json_array_size(cands), n);
		for (i = 0; i < n; i++) {
			c = json_array_get(cands, i);
			if (json_integer_value(json_object_get(c,
			    "provider_id")) != ref[i].id)
				fprintf(stderr, "call %d rank %d: api %lld, "
				    "reference %lld (%.4f min)\n", k, i + 1,
				    (long long)json_integer_value(
				    json_object_get(c, "provider_id")),
				    ref[i].id, ref[i].minutes);
			assert_int_equal(json_integer_value(json_object_get(c,
			    "provider_id")), ref[i].id);
			assert_int_equal(json_integer_value(json_object_get(c,
			    "rank")), i + 1);
			assert_true(fabs(json_number_value(json_object_get(c,
			    "travel_minutes")) - ref[i].minutes) < 0.0051);
		}
		nonempty += n > 0;
		compared++;
		json_decref(j);
	}
	print_message("compared %d calls, %d with candidates\n", compared,
	    nonempty);
	assert_int_equal(compared, NCALLS);
	/* The data must exercise both outcomes to mean anything. */
	assert_true(nonempty > NCALLS / 3);
	assert_true(nonempty < NCALLS);
}

/* Edges in a corner of their own, far from the random providers. */
#define E_LAT	27.950
#define E_LON	113.300
#define TUESDAY	"2026-12-01T12:00:00%2B08:00"

static double
lat_north(double meters)
{
	return (E_LAT + meters / EARTH_R / DEG);
}

static int
has_candidate(json_t *j, long long provider)
{
	json_t	*c;
	size_t	 i;

	json_array_foreach(json_object_get(j, "candidates"), i, c) {
		if (json_integer_value(json_object_get(c, "provider_id")) ==
		    provider)
			return (1);
	}
	return (0);
}

static void
test_edges(void **state)
{
	long long	 walker, chair, bedridden, at15, over15, closed, full;
	long long	 inactive, car_daycare, shuttle, daycare_goers[3];
	double		 d15 = 15.0 / 60.0 * 4000.0 / DETOUR;
	json_t		*j;
	int		 i;

	(void)state;
	walker = insert_resident(E_LAT, E_LON, "walk");
	chair = insert_resident(E_LAT, E_LON, "wheelchair");
	bedridden = insert_resident(E_LAT, E_LON, "bedridden");
	daycare_goers[0] = walker;
	daycare_goers[1] = chair;
	daycare_goers[2] = bedridden;
	/* Exactly 15.0 minutes on foot, and 15.01. */
	at15 = insert_provider("at15", 1, lat_north(d15), E_LON, 0, 2, 1,
	    "NULL", 0);
	over15 = insert_provider("over15", 1, E_LAT, E_LON + 0.0001, 0, 2, 1,
	    "NULL", 0);
	{
		char *q = xprintf("UPDATE providers SET location = ST_SetSRID("
		    "ST_MakePoint(%.9f, %.12f), 4326)::geography WHERE id = "
		    "%lld", E_LON, lat_north(15.01 / 60.0 * 4000.0 / DETOUR),
		    over15);

		sql(q);
		free(q);
	}
	closed = insert_provider("closed", 1, lat_north(100), E_LON, 0, 2, 1,
	    "NULL", 1);
	full = insert_provider("full", 1, lat_north(120), E_LON, 0, 1, 1,
	    "NULL", 0);
	insert_busy(full, walker, 1);
	inactive = insert_provider("inactive", 1, lat_north(140), E_LON, 0, 2,
	    0, "NULL", 0);
	/* Day care: a car-borne centre 1.5 km away is 4.7 min for it, but
	 * the resident walks there (29 min); a shuttle 3 km away fetches. */
	car_daycare = insert_provider("car daycare", 4, lat_north(1500),
	    E_LON, 2, 3, 1, "NULL", 0);
	shuttle = insert_provider("shuttle", 4, lat_north(3000), E_LON, 3, 3,
	    1, "NULL", 0);

	j = matches(walker, "meal", TUESDAY);
	assert_true(has_candidate(j, at15));
	assert_false(has_candidate(j, over15));
	assert_false(has_candidate(j, full));
	assert_false(has_candidate(j, inactive));
	/* Weekdays 08:00-18:00: open on Tuesday noon... */
	assert_true(has_candidate(j, closed));
	json_decref(j);
	/* ...closed on Sunday morning. */
	j = matches(walker, "meal", "2026-12-06T10:00:00%2B08:00");
	assert_false(has_candidate(j, closed));
	assert_true(has_candidate(j, at15));
	json_decref(j);

	for (i = 0; i < 3; i++) {
		j = matches(daycare_goers[i], "daycare", TUESDAY);
		assert_false(has_candidate(j, car_daycare));
		assert_true(has_candidate(j, shuttle));
		json_decref(j);
	}
	/* A car-borne provider serving meals travels at its own speed. */
	j = matches(walker, "housekeeping", TUESDAY);
	assert_int_equal(json_array_size(json_object_get(j, "candidates")), 0);
	json_decref(j);
}

static void
test_no_candidate_call_is_unmatched(void **state)
{
	json_t		*j;
	char		*body;
	long long	 lonely;

	(void)state;
	lonely = insert_resident(27.60, 113.60, "walk");
	body = xprintf("{\"caller_phone\": \"13900001111\", \"resident_id\": "
	    "%lld, \"service\": \"meal\"}", lonely);
	assert_int_equal(th_api(d.url, oper, "POST", "/v1/calls", body, &j),
	    201);
	assert_string_equal(json_string_value(json_object_get(j, "status")),
	    "unmatched");
	json_decref(j);
	free(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_comparison),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_no_candidate_call_is_unmatched),
	};

	return (cmocka_run_group_tests(tests, group_setup,
	    th_group_teardown));
}
