# sluice: one GNU Makefile for the library, the two binaries, the tests,
# the sanitizer builds, the fuzzers and the benchmarks.
#
#   make            build build/libsluice.a, build/sluice, build/sluice-fetch
#   make run        install what is missing, build, start the proxy
#   make test       install what is missing, build, run unit and e2e tests
#   make asan|ubsan|tsan   the unit suite under a sanitizer (own build dir)
#   make fuzz       each libFuzzer target for FUZZ_TIME seconds (default 60)
#   make bench      benchmarks (bench-parse: the parser; bench-fetch: sluice-fetch
#                   against curl; bench-proxy: the proxy against Squid,
#                   tinyproxy, nginx proxy_cache and Varnish, then through
#                   upstream hops; bench-chain: only the upstream hops;
#                   bench-cache: cache hits against nginx, Squid, nginx
#                   proxy_cache and Varnish)
#   make install    PREFIX=/usr/local DESTDIR=

.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:

CC        ?= cc
BUILD     ?= build
OPT       ?= -O2 -g
SAN       ?=
PREFIX    ?= /usr/local
DESTDIR   ?=
PYTHON    ?= /usr/bin/python3
CONF      ?= conf/sluice.json
FUZZ_TIME ?= 60
FUZZ_CC   ?= clang

WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Werror
CPPFLAGS := -Isrc -D_GNU_SOURCE -MMD -MP
CFLAGS   := -std=c11 $(OPT) $(WARN) -pthread $(if $(SAN),-fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all) $(EXTRA_CFLAGS)
LDFLAGS  := -pthread $(if $(SAN),-fsanitize=$(SAN)) $(EXTRA_LDFLAGS)
# libev ships no pkg-config file on Debian: link it by name.
LDLIBS   := -lssl -lcrypto -lev -ljansson -lcares -lm

LIB_SRC    := $(wildcard src/core/*.c src/engines/*.c src/client/*.c src/cache/*.c)
SERVER_SRC := $(filter-out src/server/main.c,$(wildcard src/server/*.c))
UNIT_SRC   := $(wildcard tests/unit/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
TSAN_SRC   := $(wildcard tests/tsan/*.c)
FETCH_SRC  := $(wildcard src/client/tools/*.c)

LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_OBJ   := $(UNIT_SRC:%.c=$(BUILD)/obj/%.o)
FETCH_OBJ  := $(FETCH_SRC:%.c=$(BUILD)/obj/%.o)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

LIB        := $(BUILD)/libsluice.a
SLUICE     := $(BUILD)/sluice
FETCH      := $(BUILD)/sluice-fetch
UNIT_BIN   := $(BUILD)/tests/unit
TSAN_BIN   := $(TSAN_SRC:tests/tsan/%.c=$(BUILD)/tests/%)
BENCH_PARSE := $(BUILD)/bench/bench_parse

.PHONY: all deps run test unit e2e asan ubsan tsan tsan-run fuzz bench bench-parse bench-fetch \
	bench-proxy bench-chain bench-cache \
	install uninstall clean check-config

all: $(LIB) $(SLUICE) $(FETCH)

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(SLUICE): $(BUILD)/obj/src/server/main.o $(SERVER_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(FETCH): $(FETCH_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(UNIT_BIN): $(UNIT_OBJ) $(SERVER_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -lcriterion $(LDLIBS) -o $@

$(BUILD)/tests/tsan_%: $(BUILD)/obj/tests/tsan/tsan_%.o $(SERVER_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The health table lives in the server.
$(BUILD)/tests/tsan_health: $(BUILD)/obj/src/server/health.o

# The unit suite: one Criterion binary, run from the project root so tests
# find their fixtures under tests/unit/data.
unit: $(UNIT_BIN)
	$(UNIT_BIN) $(UNIT_ARGS)

# End-to-end tests drive the real binaries (and, as the stack grows, real
# nginx, squid, dante and microsocks) with pytest from Debian's python3.
e2e: all
	SLUICE_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e $(E2E_ARGS)

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) e2e

run: deps
	$(MAKE) all
	$(SLUICE) -c $(CONF)

# The examples read their passwords from these variables.
check-config: $(SLUICE)
	@for f in conf/*.json conf/examples/*.json; do \
		[ -e "$$f" ] || continue; \
		CORP_PROXY_PASSWORD=example BACKUP_PROXY_PASSWORD=example \
		EDGE_PROXY_PASSWORD=example $(SLUICE) -t -c $$f || exit 1; done

# Sanitizer builds live in their own directories and run the unit suite.
# Criterion forks a child per test; ASan's leak check runs in each child.
asan:
	$(MAKE) BUILD=build/asan SAN=address,undefined OPT="-O1 -g" unit
ubsan:
	$(MAKE) BUILD=build/ubsan SAN=undefined OPT="-O1 -g" unit
# Criterion's runner cannot start under ThreadSanitizer (its fixed-address
# arena collides with TSan's), so `make tsan` runs the plain threaded checks
# in tests/tsan instead; the unit suite runs under ASan and UBSan.
tsan:
	$(MAKE) BUILD=build/tsan SAN=thread OPT="-O1 -g" tsan-run
tsan-run: $(TSAN_BIN)
	@set -e; for t in $^; do echo "$$t"; $$t; done

# libFuzzer targets, built with clang, ASan and UBSan, each run FUZZ_TIME s.
# Core sources are compiled straight into each target with coverage.
FUZZ_FLAGS := -std=c11 -g -O1 -Isrc -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all $(WARN)
FUZZ_CORE  := $(wildcard src/core/*.c)

build/fuzz/%: tests/fuzz/%.c $(FUZZ_CORE) $(wildcard src/core/*.h tests/fuzz/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $< $(FUZZ_CORE) -ljansson -lssl -lcrypto -o $@

# Cache targets also take the policy and the store's file format code (no
# threads, no libev).
FUZZ_CACHE := src/cache/store_format.c $(wildcard src/cache/policy*.c)
build/fuzz/fuzz_cache_%: tests/fuzz/fuzz_cache_%.c $(FUZZ_CORE) $(FUZZ_CACHE) \
		$(wildcard src/core/*.h src/cache/*.h tests/fuzz/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $< $(FUZZ_CORE) $(FUZZ_CACHE) -ljansson -lssl -lcrypto -o $@

fuzz: $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
	@set -e; for f in $^; do \
		n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
		seeds=; [ -d tests/fuzz/corpus/$$n ] && seeds=tests/fuzz/corpus/$$n; \
		echo "fuzz: $$n for $(FUZZ_TIME) s"; \
		$$f -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
			-artifact_prefix=build/fuzz/$$n- build/fuzz/corpus-$$n $$seeds \
			2> build/fuzz/$$n.log || { tail -50 build/fuzz/$$n.log; exit 1; }; \
		grep -E 'stat::number_of_executed_runs|Done' build/fuzz/$$n.log | tail -2; \
	done

$(BENCH_PARSE): bench/bench_parse.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< $(LIB) $(LDLIBS) -o $@

bench-parse: $(BENCH_PARSE)
	$(BENCH_PARSE)

# sluice-fetch against curl through nginx, microsocks and Squid on loopback.
bench-fetch: all
	SLUICE_BUILD=$(abspath $(BUILD)) PYTHON=$(PYTHON) bench/bench_fetch.sh

# The proxy beside Squid, tinyproxy, nginx proxy_cache and Varnish with wrk
# and curl on loopback (bench/README.md). sluice takes part when the binary
# can proxy. Bounded: the script stops its servers on SIGTERM.
bench-proxy: all
	SLUICE_BUILD=$(abspath $(BUILD)) timeout --foreground -k 10 600 $(PYTHON) bench/bench_proxy.py $(BENCH_ARGS)

# Only the upstream chain scenario of bench-proxy: sluice direct and through
# one CONNECT, SOCKS5 and forwarding hop, with the ratios to direct.
bench-chain: all
	SLUICE_BUILD=$(abspath $(BUILD)) timeout --foreground -k 10 240 $(PYTHON) bench/bench_proxy.py --chain $(BENCH_ARGS)

# Cache hits of 1 KiB, 100 KiB and 10 MiB objects: sluice beside nginx
# serving the files, Squid's, nginx proxy_cache's and Varnish's hits.
bench-cache: all
	SLUICE_BUILD=$(abspath $(BUILD)) timeout --foreground -k 10 300 $(PYTHON) bench/bench_proxy.py --cache-only $(BENCH_ARGS)

# One after the other, also under -j: benchmarks running side by side
# would measure each other.
bench:
	$(MAKE) bench-parse
	$(MAKE) bench-fetch
	$(MAKE) bench-proxy
	$(MAKE) bench-cache

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/share/sluice/conf/examples
	install -m 755 $(SLUICE) $(FETCH) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	@set -e; for d in core engines client cache; do \
		install -d $(DESTDIR)$(PREFIX)/include/sluice/$$d; \
		for h in src/$$d/*.h; do \
			case $$h in *_internal.h) continue;; esac; \
			[ -e "$$h" ] || continue; \
			install -m 644 $$h $(DESTDIR)$(PREFIX)/include/sluice/$$d/; \
		done; \
	done
	install -m 644 conf/*.json $(DESTDIR)$(PREFIX)/share/sluice/conf/
	install -m 644 conf/examples/*.json $(DESTDIR)$(PREFIX)/share/sluice/conf/examples/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/sluice $(DESTDIR)$(PREFIX)/bin/sluice-fetch \
		$(DESTDIR)$(PREFIX)/lib/libsluice.a
	rm -rf $(DESTDIR)$(PREFIX)/include/sluice $(DESTDIR)$(PREFIX)/share/sluice

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
