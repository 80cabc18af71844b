#!/usr/bin/env bash
# Screenshots of every console page, person and business, at desktop (1280 px) and phone
# (390 px) width, into docs/screenshots/. Needs Debian's chromium and chromium-driver.
set -euo pipefail
cd "$(dirname "$0")/.."
ME2B_SCREENSHOTS="$PWD/docs/screenshots" cargo test -p me2b-tests --test console -- --exact every_page_renders_at_desktop_and_phone_width
