#!/usr/bin/env bash
# System packages the training-data commands need (Debian): fluidsynth and General MIDI soundfonts render the
# synthetic corpus (`mixdown data synth`), openttd-openmsx is one of its MIDI sources, hydrogen-data and
# hydrogen-drumkits (the Hydrogen drum machine's demo songs and kits) a source of the people corpus
# (`mixdown data people --source hydrogen`), ffmpeg decodes MUSDB18's .stem.mp4 files; Chromium with its driver
# runs the studio's browser tests headless and PostgreSQL its database tests (the studio defaults to SQLite).
# Installs only what is missing; needs root (or sudo) the first time. Everything else mixdown needs comes from pip.
set -euo pipefail
packages=(fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont openttd-openmsx hydrogen-data
          hydrogen-drumkits ffmpeg chromium chromium-driver postgresql)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "mixdown: please install ${missing[*]} with your system's package manager (no apt-get here)" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "mixdown: installed ${missing[*]}"
