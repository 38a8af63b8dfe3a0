# careline: build, run, test, install. GNU make; Debian 12.
#
#   make            build carelined and the tests
#   make run        the demo district: private PostgreSQL under var/
#   make test       every test against a throwaway cluster
#   make test-asan  the same suite built with AddressSanitizer + UBSan
#   make bench      the benchmarks
#   make install    PREFIX=/usr/local DESTDIR= (FHS places)

PREFIX		?= /usr/local
SBINDIR		?= $(PREFIX)/sbin
BINDIR		?= $(PREFIX)/bin
DATADIR		?= $(PREFIX)/share/careline
SYSCONFDIR	?= /etc
UNITDIR		?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR	?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR	?= $(PREFIX)/lib/tmpfiles.d

BUILD		?= build
PKGS		 = libevent libevent_pthreads libpq yaml-0.1 libcurl jansson libcrypto libsystemd \
		   libsodium

CC		?= cc
OPTFLAGS	?= -O2 -g
CFLAGS		+= -std=gnu11 $(OPTFLAGS) -Wall -Wextra -Werror -Wshadow \
		   -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
		   -fno-strict-aliasing -D_GNU_SOURCE -MMD -MP
ifeq ($(SAN),1)
CFLAGS		+= -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=undefined
LDFLAGS		+= -fsanitize=address,undefined
endif
# Recursive (=) so pkg-config runs only when a rule needs it, after
# scripts/deps.sh has had its chance to install what is missing.
PKG_CFLAGS	 = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS	 = $(shell pkg-config --libs $(PKGS)) -lm
INCLUDES	 = -Icommon -Iconfig -Idaemon -Itests

# The newest migration is the schema this build needs.
SCHEMA_VERSION	:= $(shell ls sql/migrations 2>/dev/null | \
		   sed -n 's/^0*\([0-9][0-9]*\)_.*\.sql$$/\1/p' | sort -n | \
		   tail -n 1)

COMMON_SRCS	 = common/xmalloc.c common/log.c common/crypto.c common/phone.c \
		   common/hours.c common/jsonv.c common/webhook.c
CONFIG_SRCS	 = config/config.c
DAEMON_SRCS	 = daemon/db.c daemon/server.c daemon/routes.c \
		   daemon/health.c daemon/metrics.c daemon/migrate.c \
		   daemon/notify.c daemon/auth.c daemon/api.c daemon/api_calls.c \
		   daemon/api_residents.c daemon/api_providers.c \
		   daemon/api_tokens.c daemon/api_offers.c daemon/notifier.c \
		   daemon/dispatcher.c daemon/password.c daemon/api_session.c \
		   daemon/events.c daemon/static.c daemon/api_reports.c \
		   daemon/throttle.c
LIB_SRCS	 = $(COMMON_SRCS) $(CONFIG_SRCS) $(DAEMON_SRCS)
LIB_OBJS	 = $(LIB_SRCS:%.c=$(BUILD)/%.o)

UNIT_TESTS	 = $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%, \
		   $(wildcard tests/unit/test_*.c))
INTEG_TESTS	 = $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%, \
		   $(wildcard tests/integration/test_*.c))
HARNESS_OBJS	 = $(BUILD)/tests/harness.o

all: $(BUILD)/carelined $(BUILD)/carelinectl $(BUILD)/demo-receiver \
	$(UNIT_TESTS) $(INTEG_TESTS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INCLUDES) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/daemon/migrate.o: CFLAGS += -DCARELINE_SCHEMA_VERSION=$(SCHEMA_VERSION)
$(BUILD)/daemon/migrate.o: $(wildcard sql/migrations/*.sql)
$(BUILD)/daemon/main.o: CFLAGS += \
	-DCARELINE_CONFIG_FILE='"$(SYSCONFDIR)/careline/careline.yaml"'

$(BUILD)/libcareline.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/carelined: $(BUILD)/daemon/main.o $(BUILD)/libcareline.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The operators' command line.
$(BUILD)/carelinectl: $(BUILD)/client/carelinectl.o $(BUILD)/libcareline.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# A provider simulator for the demo and the fault-injection tests.
$(BUILD)/demo-receiver: $(BUILD)/client/demo-receiver.o $(BUILD)/libcareline.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libcareline.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

$(BUILD)/tests/integration/%: $(BUILD)/tests/integration/%.o \
	$(HARNESS_OBJS) $(BUILD)/libcareline.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -lpthread

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run.sh

test: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/run.sh

test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPTFLAGS="-O1 -g" all
	@BUILD=build-asan SAN=1 tests/run.sh

security: deps
	@scripts/security-check.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/bench.sh

install: $(BUILD)/carelined $(BUILD)/carelinectl
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(DATADIR)/sql/migrations \
	    $(DESTDIR)$(DATADIR)/sql/demo $(DESTDIR)$(SYSCONFDIR)/careline \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(TMPFILESDIR)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/www
	install -m 0755 $(BUILD)/carelined $(DESTDIR)$(SBINDIR)/carelined
	install -m 0755 $(BUILD)/carelinectl $(DESTDIR)$(BINDIR)/carelinectl
	cp -R client/www/. $(DESTDIR)$(DATADIR)/www/
	install -m 0644 sql/migrations/*.sql $(DESTDIR)$(DATADIR)/sql/migrations/
	install -m 0644 sql/demo/*.sql $(DESTDIR)$(DATADIR)/sql/demo/
	test -e $(DESTDIR)$(SYSCONFDIR)/careline/careline.yaml || \
	    sed -e 's|/usr/share/careline|$(DATADIR)|g' config/careline.yaml \
	    > $(DESTDIR)$(SYSCONFDIR)/careline/careline.yaml
	sed -e 's|/usr/sbin/carelined|$(SBINDIR)/carelined|' \
	    -e 's|/etc/careline|$(SYSCONFDIR)/careline|g' \
	    systemd/carelined.service > $(DESTDIR)$(UNITDIR)/carelined.service
	install -m 0644 systemd/careline.sysusers.conf \
	    $(DESTDIR)$(SYSUSERSDIR)/careline.conf
	install -m 0644 systemd/careline.tmpfiles.conf \
	    $(DESTDIR)$(TMPFILESDIR)/careline.conf

clean:
	rm -rf build build-asan

.PHONY: all deps run test test-asan security bench install clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
