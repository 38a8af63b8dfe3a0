/* systemd readiness, reload, stop and watchdog notifications. */
#ifndef CARELINE_SD_NOTIFY_H
#define CARELINE_SD_NOTIFY_H

#include <event2/event.h>

void	sd_notify_ready(void);
void	sd_notify_reloading(void);
/*
 * After the drain's grace, what stopping may still take (closing the
 * pool, freeing): added to the grace in EXTEND_TIMEOUT_USEC.
 */
#define SD_NOTIFY_STOP_MARGIN_MS	5000

/* STOPPING=1, asking systemd to wait grace_ms plus the margin. */
void	sd_notify_stopping(int grace_ms);
/* Starts WATCHDOG=1 pings at half the unit's WatchdogSec, if it has one. */
struct event *sd_notify_watchdog_start(struct event_base *);

#endif
