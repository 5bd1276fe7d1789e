# soulplayer: corpus -> training -> soul.bin -> gen -> ca65/ld65 -> PRG/D64 -> VICE
#
#   make disk    build build/soulplayer.d64 (SOUL=... for another soul; its tokenizer.json
#                beside it unless TOKENIZER=...; NAME=... its name on the screen;
#                MODE=free|corpus: the reply mode the C64 starts in, REPLIES=... its replies)
#   make test    the whole test suite (Python reference, training, VICE)
#   make bench   cycle benchmark in x64sc; make bench-ref: Python reference speed
#   make train   train a soul from the built-in corpus into runs/default (held-out scores too)
#   make run     start VICE on the disk last built (building it first when there is
#                none, or when SOUL/TOKENIZER/NAME/MODE/REPLIES are given)
#   make web     build/web/: the chat in a web page (the same PRG on a 6502 core)
#
# Each target bootstraps what it needs (system tools, .venv) and is a quick
# no-op when everything is present.

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
SOUL_CLI := $(VENV)/bin/soul
SOUL      ?= models/soul.bin
TOKENIZER ?=
NAME      ?=
MODE      ?=
REPLIES   ?=
BUILD   ?= build
X64SC   ?= x64sc
# soul build's arguments; the tokenizer defaults to tokenizer.json beside the soul
SOUL_ARGS = --soul $(SOUL) $(if $(TOKENIZER),--tokenizer $(TOKENIZER))
BUILD_ARGS = $(SOUL_ARGS) $(if $(NAME),--name "$(NAME)") \
	$(if $(MODE),--mode $(MODE)) $(if $(REPLIES),--replies $(REPLIES)) --out $(BUILD)
# given on the command line or in the environment: make run builds with them
GIVEN = $(filter-out file default undefined,$(origin SOUL) $(origin TOKENIZER) $(origin NAME) $(origin MODE) $(origin REPLIES))

.PHONY: all disk test bench bench-ref train run sys sys-web venv venv-full web web-deps clean

all: disk

# --- setup -----------------------------------------------------------------
sys:
	@bash tools/bootstrap.sh
sys-web:
	@bash tools/bootstrap.sh web

$(VENV)/.base: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.full: $(VENV)/.base
	$(PY) -m pip install -q -e '.[train,test]'
	@touch $@

venv: $(VENV)/.base
venv-full: $(VENV)/.full

# the web page's npm packages, from the lockfile (npm writes the stamp)
WEB_DEPS := web/node_modules/.package-lock.json
$(WEB_DEPS): web/package-lock.json | sys-web
	cd web && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@
web-deps: $(WEB_DEPS)

# --- main jobs ---------------------------------------------------------------
disk: sys venv
	$(SOUL_CLI) build $(BUILD_ARGS)

test: sys venv-full web-deps
	$(PY) -m pytest -q

bench: sys venv
	$(SOUL_CLI) bench $(SOUL_ARGS) --out $(BUILD)/bench.json

bench-ref: venv
	$(SOUL_CLI) bench-ref --soul $(SOUL)

train: venv-full
	$(SOUL_CLI) train --output runs/default --holdout corpus/heldout.txt

# Debian's VICE ships no Commodore ROMs: use open-roms (C64_ROMS= empty uses
# VICE's own, C64_ROMS=dir a folder with kernal, basic and chargen files).
C64_ROMS ?= /usr/share/open-roms/C64
ROM_ARGS = $(if $(C64_ROMS),-kernal $(C64_ROMS)/kernal -basic $(C64_ROMS)/basic -chargen $(C64_ROMS)/chargen)

# The disk last built, never silently another soul: `make disk SOUL=x` then
# `make run` runs x; `make run SOUL=y` builds y first; no disk yet: the default.
run: sys venv
ifneq ($(GIVEN),)
	$(SOUL_CLI) build $(BUILD_ARGS)
else
	@test -f $(BUILD)/soulplayer.d64 || $(SOUL_CLI) build $(BUILD_ARGS)
endif
	# No 1541 ROM either: the virtual drive serves the d64.
	$(X64SC) $(RUN_ARGS) $(ROM_ARGS) -moncommands $(BUILD)/soulplayer.lbl \
		+drive8truedrive -virtualdev8 -iecdevice8 -autostart $(BUILD)/soulplayer.d64

# the page's font: the Open ROMs character ROM (LGPL-3.0-or-later, installed by sys)
CHARGEN ?= /usr/share/open-roms/C64/chargen

STOP_IDS_PY = from soulplayer.chat import STOP_TOKENS; print(",".join(map(str, STOP_TOKENS)))

web: disk web-deps
	node web/build.mjs --prg $(BUILD)/soulplayer.prg --lbl $(BUILD)/soulplayer.lbl \
		--chargen $(CHARGEN) --stop-ids $$($(PY) -c '$(STOP_IDS_PY)') --out $(BUILD)/web

clean:
	rm -rf $(BUILD)
