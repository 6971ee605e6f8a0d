#!/usr/bin/env bash
# Set up everything Diming needs on this machine; idempotent and quick the second time.
#   scripts/setup.sh            system packages, venv, front-end assets, database, migrations, demo data
#   WITH_BROWSER=1 ...          also the headless Chromium and QGIS the browser and client tests use (make test)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PG=15
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

# -- 1. system packages ----------------------------------------------------------------------------------
missing=()
[ -x /usr/lib/postgresql/$PG/bin/initdb ] || missing+=(postgresql-$PG)
[ -f /usr/share/postgresql/$PG/extension/postgis.control ] || missing+=(postgresql-$PG-postgis-3)
[ -f /usr/share/postgresql/$PG/extension/pgrouting.control ] || missing+=(postgresql-$PG-pgrouting)
command -v ogrinfo >/dev/null || missing+=(gdal-bin)
ls /usr/share/fonts/truetype/wqy/wqy-microhei.ttc >/dev/null 2>&1 || missing+=(fonts-wqy-microhei)
command -v npm >/dev/null || missing+=(nodejs npm)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ "${WITH_BROWSER:-0}" = 1 ]; then
  command -v chromium >/dev/null || missing+=(chromium)
  command -v pdftotext >/dev/null || missing+=(poppler-utils)  # reads the generated PDF notices back
  # QGIS 3.22 headless for tests/clients (the system python's bindings; pulls qgis-providers, whose wfs provider
  # is the OAPIF one): ~195 MB download, ~930 MB installed
  /usr/bin/python3 -c 'import qgis.core' 2>/dev/null || missing+=(python3-qgis)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Missing system packages. Install them with:" >&2
    echo "  sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# -- 2. Python environment -------------------------------------------------------------------------------
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v $c >/dev/null && $c -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then PY=$c; break; fi
  done
fi
[ -n "$PY" ] || { echo "Python 3.11 is required (apt-get install python3.11 python3.11-venv)" >&2; exit 1; }
stamp=$(cat pyproject.toml constraints.txt | sha1sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.diming-stamp 2>/dev/null)" != "$stamp" ]; then
  say "creating .venv with $PY"
  [ -x .venv/bin/python ] || $PY -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -c constraints.txt -e '.[dev]'
  echo "$stamp" > .venv/.diming-stamp
fi

# -- 3. front-end assets (from npm, served locally; never a CDN) ----------------------------------------------
lockstamp=$(cat map_ui/package.json map_ui/package-lock.json | sha1sum | cut -c1-16)
if [ "$(cat map_ui/node_modules/.diming-stamp 2>/dev/null)" != "$lockstamp" ]; then
  say "installing front-end assets (npm ci)"
  (cd map_ui && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$lockstamp" > map_ui/node_modules/.diming-stamp
fi
V=map_ui/static/vendor NM=map_ui/node_modules
rm -rf $V/leaflet $V/swagger-ui $V/markercluster $V/geoman $V/vectorgrid $V/flatpickr
mkdir -p $V/swagger-ui $V/markercluster $V/geoman $V/vectorgrid $V/flatpickr
cp -r $NM/leaflet/dist $V/leaflet
cp $NM/swagger-ui-dist/swagger-ui-bundle.js $NM/swagger-ui-dist/swagger-ui.css $V/swagger-ui/
cp $NM/leaflet.markercluster/dist/leaflet.markercluster.js $NM/leaflet.markercluster/dist/MarkerCluster.css \
   $NM/leaflet.markercluster/dist/MarkerCluster.Default.css $V/markercluster/
cp $NM/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js \
   $NM/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css $V/geoman/
cp $NM/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js $V/vectorgrid/
cp $NM/flatpickr/dist/flatpickr.min.js $NM/flatpickr/dist/flatpickr.min.css $NM/flatpickr/dist/l10n/zh.js $V/flatpickr/

# -- 4. database, migrations, demo -----------------------------------------------------------------------
.venv/bin/diming db up
.venv/bin/diming migrate
.venv/bin/diming load-demo
say "set-up complete ($ROOT)"
