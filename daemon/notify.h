/* systemd readiness, reload, stop and watchdog notifications. */
#ifndef CARELINE_NOTIFY_H
#define CARELINE_NOTIFY_H

#include <event2/event.h>

void	notify_ready(void);
void	notify_reloading(void);
void	notify_stopping(void);
/* Starts WATCHDOG=1 pings at half the unit's WatchdogSec, if it has one. */
struct event *notify_watchdog_start(struct event_base *);

#endif
