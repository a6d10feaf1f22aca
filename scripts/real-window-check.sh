#!/usr/bin/env bash
# The real-window check: the app in Xvfb with a window manager (openbox), driven with synthetic
# mouse input (xdotool) - a lasso, a histogram brush, a sample, a click on a star - and screenshots
# of the whole screen at each size (scripts/real_window_driver.py does the steps and the checks).
#
#   scripts/real-window-check.sh [OUT_DIR] [SIZE ...]      (default: real-window-shots 1600x1000 1366x768 1920x1080)
#
# Needs Xvfb, openbox, xdotool and ImageMagick's import (Debian/Ubuntu: apt-get install -y xvfb
# openbox xdotool imagemagick, plus the xcb libraries the README names). Exits 0 when every check
# at every size passed; prints "skipped: ..." and exits 0 when a tool is missing and
# REAL_WINDOW_REQUIRED is not 1.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-real-window-shots}"
shift || true
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(1600x1000 1366x768 1920x1080)
PYTHON="${PYTHON:-.venv/bin/python}"

missing=()
for tool in Xvfb openbox xdotool import; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "skipped: the real-window check needs ${missing[*]} (apt-get install -y xvfb openbox xdotool imagemagick)"
    [ "${REAL_WINDOW_REQUIRED:-0}" = 1 ] && exit 1
    exit 0
fi

mkdir -p "$OUT"
status=0
display=97
for size in "${SIZES[@]}"; do
    display=$((display + 1))
    while [ -e "/tmp/.X11-unix/X$display" ] || [ -e "/tmp/.X$display-lock" ]; do display=$((display + 1)); done
    Xvfb ":$display" -screen 0 "${size}x24" -nolisten tcp >"$OUT/xvfb-$size.log" 2>&1 &
    xvfb_pid=$!
    for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$display" ] && break; sleep 0.1; done
    DISPLAY=":$display" openbox >"$OUT/openbox-$size.log" 2>&1 &
    wm_pid=$!
    sleep 1
    echo "== $size (display :$display)"
    DISPLAY=":$display" QT_QPA_PLATFORM=xcb timeout 900 "$PYTHON" scripts/real_window_driver.py \
        --out "$OUT" --name "window-$size" --timeout 800
    rc=$?
    [ $rc -ne 0 ] && { echo "FAILED at $size (exit $rc)"; status=1; }
    kill "$wm_pid" 2>/dev/null; wait "$wm_pid" 2>/dev/null
    kill "$xvfb_pid" 2>/dev/null; wait "$xvfb_pid" 2>/dev/null
done
echo "screenshots in $OUT/"
exit $status
