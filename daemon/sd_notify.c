#include <inttypes.h>
#include <stdint.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "sd_notify.h"

void
sd_notify_ready(void)
{
	sd_notify(0, "READY=1\nSTATUS=serving");
}

void
sd_notify_reloading(void)
{
	sd_notify(0, "RELOADING=1");
}

/*
 * systemd kills a service at TimeoutStopSec= whatever its own grace says,
 * and marks it failed. Rather than tie the unit to the config (the grace
 * is reloadable, up to 10 minutes), ask for the time this drain may take:
 * EXTEND_TIMEOUT_USEC moves the deadline to now + that much.
 */
void
sd_notify_stopping(int grace_ms)
{
	uint64_t	usec;

	usec = ((uint64_t)grace_ms + SD_NOTIFY_STOP_MARGIN_MS) * 1000;
	sd_notifyf(0, "STOPPING=1\nSTATUS=draining requests\n"
	    "EXTEND_TIMEOUT_USEC=%" PRIu64, usec);
}

static void
sd_notify_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	/* Sent from the loop itself: a wedged loop stops the pings. */
	sd_notify(0, "WATCHDOG=1");
}

struct event *
sd_notify_watchdog_start(struct event_base *base)
{
	struct event	*ev;
	struct timeval	 tv;
	uint64_t	 usec;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return (NULL);
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	ev = event_new(base, -1, EV_PERSIST, sd_notify_watchdog, NULL);
	event_add(ev, &tv);
	log_info("systemd: watchdog ping every %ld.%03ld s", (long)tv.tv_sec,
	    (long)tv.tv_usec / 1000);
	return (ev);
}
