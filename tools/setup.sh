#!/bin/sh
# Set up the workstation on a fresh Debian machine with Python 3.11:
# system packages (Xvfb and Mesa for the viewer and its tests, dicom3tools for
# dciodvfy, elastix for the registration benchmark, Orthanc and its DICOMweb
# plugin for the PACS tests, which start their own server, Chromium and a font for
# the reports' browser test), then a virtual environment
# in .venv with the package, the viewer and the test tools.
set -eu
cd "$(dirname "$0")/.."
APT_PACKAGES="python3-venv xvfb xauth libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-cursor0 \
libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 \
libxcb-image0 libdbus-1-3 libfontconfig1 dicom3tools elastix orthanc orthanc-dicomweb chromium \
fonts-dejavu-core"
if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = "0" ] || SUDO="sudo"
    missing=""
    for p in $APT_PACKAGES; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        $SUDO apt-get update -q
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
    fi
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[viewer,test]"
