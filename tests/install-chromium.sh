#!/bin/sh
# The browser test drives Debian's chromium through Playwright; install it when it is missing.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "install-chromium: not root and no sudo: install Debian's chromium to run the browser test" >&2; exit 0; fi
$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null; }
command -v chromium >/dev/null 2>&1 || { echo "install-chromium: chromium could not be installed" >&2; exit 1; }
