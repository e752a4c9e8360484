#!/bin/sh
# Generates ./configure from a git checkout (release tarballs already have it).
set -e
cd "$(dirname "$0")"
mkdir -p m4
autoreconf -fi
