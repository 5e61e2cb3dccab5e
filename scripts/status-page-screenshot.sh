#!/usr/bin/env bash
# Regenerates docs/status-page.png: a real `kestrel run` against an Apache Kafka
# broker, with traffic, a flood guard demotion, a reload and a refused
# reload, photographed by headless Chromium. Installs Chromium when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}
KESTREL_SCREENSHOT="$PWD/docs/status-page.png" \
  cargo test --release --test ops_live -- --ignored --exact status_page_screenshot
echo "wrote docs/status-page.png"
