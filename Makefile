# careline: build, run, test, install. GNU make; Debian 12.
#
#   make            build the programs: carelined, carelinectl, demo-receiver
#   make check      build and run the unit tests (cmocka; no database)
#   make run        the demo district: private PostgreSQL under var/
#   make test       build everything, every test against a throwaway cluster
#   make test-asan  the same suite built with AddressSanitizer + UBSan
#   make bench      the benchmarks
#   make fuzz       libFuzzer targets, FUZZ_SECONDS each (clang, build-fuzz/)
#   make install    PREFIX=/usr/local DESTDIR= (FHS places)
#   make deb        the Debian package for a server, in build/deb/

PREFIX		?= /usr/local
SBINDIR		?= $(PREFIX)/sbin
BINDIR		?= $(PREFIX)/bin
DATADIR		?= $(PREFIX)/share/careline
SYSCONFDIR	?= /etc
UNITDIR		?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR	?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR	?= $(PREFIX)/lib/tmpfiles.d
MANDIR		?= $(PREFIX)/share/man

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
# The fuzz build (scripts/fuzz.sh): clang, the library instrumented for
# libFuzzer, every undefined behaviour fatal so it counts as a crash.
ifeq ($(FUZZ),1)
CC		 = clang
CFLAGS		+= -fsanitize=fuzzer-no-link,address,undefined \
		   -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_LDFLAGS	 = -fsanitize=fuzzer,address,undefined
endif
# Recursive (=) so pkg-config runs only when a rule needs it, after
# scripts/deps.sh has had its chance to install what is missing.
PKG_CFLAGS	 = $(shell pkg-config --cflags $(PKGS))
# libunistring (NFKC, Unicode categories) ships no pkg-config file.
PKG_LIBS	 = $(shell pkg-config --libs $(PKGS)) -lunistring -lm
INCLUDES	 = -Icommon -Iconfig -Idaemon -Itests

# The version, in one place: the file VERSION. scripts/version.sh fails,
# and with it every build, when debian/changelog's newest entry says other.
VERSION		:= $(shell scripts/version.sh)
ifeq ($(VERSION),)
$(error VERSION and debian/changelog disagree (see above))
endif

# The newest schema file is the schema this build needs.
SCHEMA_VERSION	:= $(shell ls sql/schema 2>/dev/null | \
		   sed -n 's/^0*\([0-9][0-9]*\)_.*\.sql$$/\1/p' | sort -n | \
		   tail -n 1)

# Every .c of these folders is in the library; main.c is the daemon's own.
COMMON_SRCS	 = $(sort $(wildcard common/*.c))
CONFIG_SRCS	 = $(sort $(wildcard config/*.c))
DAEMON_SRCS	 = $(sort $(filter-out daemon/main.c,$(wildcard daemon/*.c)))
LIB_SRCS	 = $(COMMON_SRCS) $(CONFIG_SRCS) $(DAEMON_SRCS)
LIB_OBJS	 = $(LIB_SRCS:%.c=$(BUILD)/%.o)
# The operators' command line: client/ctl/, a file per command group.
CTL_OBJS	 = $(patsubst %.c,$(BUILD)/%.o,$(wildcard client/ctl/*.c))

UNIT_TESTS	 = $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%, \
		   $(wildcard tests/unit/test_*.c))
INTEG_TESTS	 = $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%, \
		   $(wildcard tests/integration/test_*.c))
HARNESS_OBJS	 = $(BUILD)/tests/harness.o $(BUILD)/tests/harness_stream.o
FUZZ_TARGETS	 = $(patsubst tests/fuzz/%.c,$(BUILD)/tests/fuzz/%, \
		   $(wildcard tests/fuzz/fuzz_*.c))

PROGRAMS	 = $(BUILD)/carelined $(BUILD)/carelinectl $(BUILD)/demo-receiver

# The programs only: cmocka is needed for the tests alone.
all: $(PROGRAMS)

tests: $(PROGRAMS) $(UNIT_TESTS) $(INTEG_TESTS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(INCLUDES) $(PKG_CFLAGS) -c $< -o $@

# The directory too: removing a schema file changes its mtime, not a file's.
$(BUILD)/daemon/db_migrate.o: CFLAGS += -DCARELINE_SCHEMA_VERSION=$(SCHEMA_VERSION)
$(BUILD)/daemon/db_migrate.o: sql/schema $(wildcard sql/schema/*.sql)
$(BUILD)/daemon/main.o: CFLAGS += \
	-DCARELINE_CONFIG_FILE='"$(SYSCONFDIR)/careline/careline.yaml"' \
	-DCARELINE_VERSION='"$(VERSION)"'
$(CTL_OBJS): CFLAGS += -DCTL_VERSION='"$(VERSION)"'
$(BUILD)/daemon/main.o $(CTL_OBJS): VERSION debian/changelog

$(BUILD)/libcareline.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/carelined: $(BUILD)/daemon/main.o $(BUILD)/libcareline.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/carelinectl: $(CTL_OBJS) $(BUILD)/libcareline.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# A provider simulator for the demo and the fault-injection tests.
RECEIVER_SRCS	 = tests/tools/demo-receiver.c tests/tools/receiver_opts.c \
		   tests/tools/receiver_respond.c
$(BUILD)/demo-receiver: $(RECEIVER_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/libcareline.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libcareline.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

$(BUILD)/tests/integration/%: $(BUILD)/tests/integration/%.o \
	$(HARNESS_OBJS) $(BUILD)/libcareline.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -lpthread

# libFuzzer brings its own main(); built only with FUZZ=1. Objects before
# the library: jv_tables.o refers to lists defined in it (api_services).
$(BUILD)/tests/fuzz/%: $(BUILD)/tests/fuzz/%.o $(BUILD)/libcareline.a
	$(CC) $(LDFLAGS) $(FUZZ_LDFLAGS) -o $@ $(filter %.o,$^) \
	    $(filter %.a,$^) $(PKG_LIBS)

# fuzz_jsonv checks bodies against every route's field table, copied
# from wherever the handlers define them.
$(BUILD)/tests/fuzz/jv_tables.c: tests/fuzz/jv_tables.sh $(LIB_SRCS)
	@mkdir -p $(dir $@)
	tests/fuzz/jv_tables.sh $(LIB_SRCS) > $@.tmp && mv $@.tmp $@
$(BUILD)/tests/fuzz/jv_tables.o: $(BUILD)/tests/fuzz/jv_tables.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-unused-const-variable $(INCLUDES) \
	    $(PKG_CFLAGS) -c $< -o $@
$(BUILD)/tests/fuzz/fuzz_jsonv: $(BUILD)/tests/fuzz/jv_tables.o

fuzz-targets: $(FUZZ_TARGETS)

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run.sh

# The unit tests alone, no database: what a package build runs.
check: $(UNIT_TESTS)
	@BUILD=$(BUILD) tests/run.sh --unit

test: deps
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) tests/run.sh

test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPTFLAGS="-O1 -g" tests
	@BUILD=build-asan SAN=1 tests/run.sh

# scripts/fuzz.sh installs clang when missing, builds with FUZZ=1 under
# build-fuzz/ and runs each target FUZZ_SECONDS (default 30).
fuzz: deps
	@scripts/fuzz.sh

security: deps
	@scripts/security-check.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/bench.sh

# The config holds tokens and webhook secrets: 0750/0640 from the start,
# not only once systemd-tmpfiles has run (it then sets group careline).
# An existing careline.yaml is never overwritten. The unit, the tmpfiles
# snippet and the config name install paths: rewritten on the way.
CONF		 = $(DESTDIR)$(SYSCONFDIR)/careline/careline.yaml
install: $(BUILD)/carelined $(BUILD)/carelinectl
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(DATADIR)/sql/schema \
	    $(DESTDIR)$(DATADIR)/sql/functions \
	    $(DESTDIR)$(DATADIR)/sql/demo $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/www \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/careline
	install -m 0755 $(BUILD)/carelined $(DESTDIR)$(SBINDIR)/carelined
	install -m 0755 $(BUILD)/carelinectl $(DESTDIR)$(BINDIR)/carelinectl
	install -m 0644 docs/man/carelined.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 docs/man/carelinectl.1 $(DESTDIR)$(MANDIR)/man1/
	cp -R client/www/. $(DESTDIR)$(DATADIR)/www/
	install -m 0644 sql/schema/*.sql $(DESTDIR)$(DATADIR)/sql/schema/
	install -m 0644 sql/functions/*.sql $(DESTDIR)$(DATADIR)/sql/functions/
	install -m 0644 sql/demo/*.sql $(DESTDIR)$(DATADIR)/sql/demo/
	test -e $(CONF) || { umask 077 && \
	    sed -e 's|/usr/share/careline|$(DATADIR)|g' config/careline.yaml \
	    > $(CONF) && chmod 0640 $(CONF); }
	sed -e 's|/usr/sbin/carelined|$(SBINDIR)/carelined|g' \
	    -e 's|/etc/careline|$(SYSCONFDIR)/careline|g' \
	    systemd/carelined.service > $(DESTDIR)$(UNITDIR)/carelined.service
	sed -e 's|/etc/careline|$(SYSCONFDIR)/careline|g' \
	    systemd/careline.tmpfiles.conf > $(DESTDIR)$(TMPFILESDIR)/careline.conf
	chmod 0644 $(DESTDIR)$(UNITDIR)/carelined.service \
	    $(DESTDIR)$(TMPFILESDIR)/careline.conf
	install -m 0644 systemd/careline.sysusers.conf \
	    $(DESTDIR)$(SYSUSERSDIR)/careline.conf

# The server's package: only what carelined needs to run (scripts/deb.sh
# installs the build dependencies of debian/control when missing, builds
# from a copy of the tree, runs lintian). Not `make install` plus deps.sh.
deb:
	@scripts/deb.sh

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all tests check deps run test test-asan fuzz fuzz-targets security bench install deb \
	clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
