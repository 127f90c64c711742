# k8c build. Sources are found by wildcard: adding a .c file or a test needs no edit here.
#   make            build/k8c (release: -O2, fortified)
#   make test       deps, build, format check, unit tests (Criterion), fuzz corpora replay,
#                   end-to-end tests (pytest)
#   make asan       unit tests and corpora under AddressSanitizer + UBSan
#   make fuzz       explore each fuzz target with clang's libFuzzer for FUZZ_SECONDS each
#   make run        build and start a single-node cluster in the foreground
#   make bench      every benchmark under bench/ (--quick with QUICK=1)

VARIANT ?= release
CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif

PKGS := jansson yaml-0.1 sqlite3 libcurl libssh2 libmicrohttpd gnutls libarchive libseccomp libcap zlib \
        libmnl libnftables
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
# k8c itself opens libarchive when it first reads or writes an image (src/image/archive_lazy.c):
# linked, it and its libxml2/ICU/libstdc++ cost ~2 MiB resident in every process.
K8C_LIBS := $(shell pkg-config --libs $(filter-out libarchive,$(PKGS)) 2>/dev/null) -lpthread -lm

WARN := -Wall -Wextra -Werror -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-unused-parameter

ifeq ($(VARIANT),release)
BUILD := build
VARIANT_CFLAGS := -O2 -g -D_FORTIFY_SOURCE=3 -fstack-protector-strong
VARIANT_LDFLAGS :=
else ifeq ($(VARIANT),asan)
BUILD := build/asan
VARIANT_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
                  -fno-omit-frame-pointer
VARIANT_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(VARIANT),fuzz)
# libFuzzer builds (make fuzz): clang, coverage on every object, sanitizers.
BUILD := build/fuzz
CC := clang
VARIANT_CFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
                  -fno-sanitize-recover=all -Wno-unused-variable -Wno-format-nonliteral
VARIANT_LDFLAGS := -fsanitize=address,undefined
else
$(error unknown VARIANT "$(VARIANT)": use release, asan or fuzz)
endif

GEN := $(BUILD)/gen
OBJ := $(BUILD)/obj
BASE_CFLAGS := -std=c17 -D_GNU_SOURCE $(WARN) -Isrc -I$(GEN) $(PKG_CFLAGS) -MMD -MP
CFLAGS := $(BASE_CFLAGS) $(VARIANT_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(VARIANT_LDFLAGS) $(EXTRA_LDFLAGS)

SRC := $(shell find src -name '*.c' | sort)
LIB_SRC := $(filter-out src/main.c src/agent/shim_main.c,$(SRC))
LIB_OBJ := $(LIB_SRC:%.c=$(OBJ)/%.o) $(OBJ)/shim_blob.o
UNIT_SRC := $(shell find tests/unit -name '*.c' 2>/dev/null | sort)
UNIT_OBJ := $(UNIT_SRC:%.c=$(OBJ)/%.o)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz-replay/%)

K8C_VERSION := 0.1.0
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
PYTHON := /usr/bin/python3

.PHONY: all test unit e2e asan fuzz fuzz-replay run bench format format-check lint deps clean \
        fuzz-run FORCE

all: deps $(BUILD)/k8c

deps:
	@bash scripts/deps.sh

# version.h is rewritten only when its content changes, so a new commit relinks but does not
# rebuild the tree.
$(GEN)/version.h: FORCE
	@mkdir -p $(GEN)
	@printf '#define K8C_VERSION "%s"\n#define K8C_GIT_COMMIT "%s"\n#define K8C_KUBE_MAJOR "1"\n#define K8C_KUBE_MINOR "32"\n' \
	    '$(K8C_VERSION)' '$(GIT_COMMIT)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(OBJ)/%.o: %.c | $(GEN)/version.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(OBJ)/src/main.o: $(GEN)/version.h

# The per-container shim as a small static program (only the shim and the base files it
# uses), embedded in k8c and written out by the agent (src/agent/shim_main.c): a shim then
# costs ~0.5 ms and a few hundred KiB instead of loading k8c's ~50 shared libraries.
# attach.c (the attach socket) and tty.c (a tty container's pty) are the shim's too; jansson
# reads attach resize messages. The built-in runtime (all of src/runtime but its command
# line) is linked in too: the shim creates and parents built-in-runtime containers itself
# (shim.c --builtin), so a container start execs nothing else.
SHIM_RUNTIME_SRC := $(filter-out src/runtime/cli.c,$(wildcard src/runtime/*.c))
SHIM_SRC := src/agent/shim_main.c src/agent/shim.c src/agent/attach.c src/agent/tty.c \
            src/base/buf.c src/base/file.c src/base/mem.c src/base/err.c src/base/json.c \
            src/base/clock.c $(SHIM_RUNTIME_SRC)
$(BUILD)/k8c-shim: $(SHIM_SRC) $(wildcard src/agent/agent.h src/agent/stream.h src/base/*.h \
                                          src/runtime/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -D_GNU_SOURCE $(WARN) -Isrc -O2 -static -s -o $@ $(SHIM_SRC) -lseccomp \
	    -lcap -ljansson -lutil

$(OBJ)/shim_blob.o: $(BUILD)/k8c-shim
	@mkdir -p $(dir $@)
	printf '.section .rodata\n.balign 16\n.global k8c_shim_blob\nk8c_shim_blob:\n.incbin "%s"\n.global k8c_shim_blob_end\nk8c_shim_blob_end:\n.section .note.GNU-stack,"",@progbits\n' $< | $(CC) -c -x assembler -o $@ -

$(BUILD)/libk8c.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/k8c: $(OBJ)/src/main.o $(BUILD)/libk8c.a
	$(CC) $(LDFLAGS) -o $@ $^ $(K8C_LIBS)

$(BUILD)/unit-tests: $(UNIT_OBJ) $(BUILD)/libk8c.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcriterion

# Each fuzz target linked with a small driver that replays its committed corpus: cheap enough
# for every `make test`, and under sanitizers in `make asan`.
$(BUILD)/fuzz-replay/%: $(OBJ)/tests/fuzz/%.o $(OBJ)/tests/fuzz/replay_main.o $(BUILD)/libk8c.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(OBJ)/tests/fuzz/replay_main.o: tests/fuzz/replay_main.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -c $< -o $@

unit: all $(BUILD)/unit-tests
	$(BUILD)/unit-tests --jobs 2 --timeout 120 $(UNIT_ARGS)

fuzz-replay: $(FUZZ_REPLAY)
	@for t in $(FUZZ_REPLAY); do \
	    name=$$(basename $$t); \
	    $$t tests/fuzz/corpus/$${name#fuzz_} || exit 1; \
	done

# Most e2e time is spent waiting for clusters to converge, so several pytest workers share the
# two cores well; each test still starts its own servers on free ports and private dirs.
E2E_JOBS ?= 3
e2e: all
	cd tests/e2e && K8C_BIN=$(CURDIR)/$(BUILD)/k8c $(PYTHON) -m pytest -q -p no:cacheprovider \
	    -n $(E2E_JOBS) $(E2E_ARGS)

# clang reads the tree too: it refuses things gcc lets through, such as a goto that jumps
# past a cleanup variable (which would free an uninitialised pointer).
LINT_FLAGS := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-unused-variable -Isrc -I$(GEN) $(PKG_CFLAGS) -fsyntax-only
lint: $(GEN)/version.h
	@printf '%s\n' $(SRC) $(UNIT_SRC) $(FUZZ_SRC) | xargs -P 2 -n 8 clang $(LINT_FLAGS)

test: all format-check lint unit fuzz-replay e2e

asan:
	$(MAKE) VARIANT=asan unit fuzz-replay

# Coverage-guided exploration with clang's libFuzzer, FUZZ_SECONDS per target (FUZZ=name
# for one). The library is built once with coverage; each target links it with libFuzzer.
FUZZ_SECONDS ?= 60
FUZZ ?= $(FUZZ_SRC:tests/fuzz/%.c=%)
fuzz: deps
	$(MAKE) VARIANT=fuzz fuzz-run

$(BUILD)/fuzzers/%: $(OBJ)/tests/fuzz/%.o $(BUILD)/libk8c.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

fuzz-run: $(addprefix $(BUILD)/fuzzers/,$(FUZZ))
	@for name in $(FUZZ); do \
	    echo "fuzz: $$name ($(FUZZ_SECONDS)s)"; \
	    mkdir -p $(BUILD)/corpus-$$name; \
	    $(BUILD)/fuzzers/$$name -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	        $(BUILD)/corpus-$$name tests/fuzz/corpus/$${name#fuzz_} || exit 1; \
	done

run: all
	$(BUILD)/k8c server $(RUN_ARGS)

bench: all
	@for b in bench/*/run; do [ -x "$$b" ] && $$b $(if $(QUICK),--quick) || exit 1; done

FORMAT_FILES = $(shell find src tests bench -name '*.[ch]' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf build

FORCE:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
.SECONDARY:
