#!/usr/bin/env bash
# Sets up a peer consumer for the shape matrix on first use, cached under bench/.cache/peers
# (gitignored), and prints how to run it as KEY=VALUE lines. On failure: exit 1, the reason on the
# last line of stderr (the matrix prints it and skips the peer).
#
#   setup.sh java     Confluent Parallel Consumer 0.5.3.3 + kafka-clients 3.9.1 (Maven Central, Java 17)
#                     → CLASSPATH=…   (PcRunner compiled against it)
#   setup.sh python   Pyrallel Consumer 1.0.0 (PyPI) in a Python 3.12 venv
#                     → PYTHON=…
#
# Env: PYRALLEL_PEERS_CACHE (default <repo>/bench/.cache/peers).
set -euo pipefail

PC_VERSION=0.5.3.3
PYRALLEL_PY_VERSION=1.0.0
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../../.." && pwd)"
CACHE="${PYRALLEL_PEERS_CACHE:-$REPO_ROOT/bench/.cache/peers}"

fail() { echo "$*" >&2; exit 1; }

setup_java() {
  command -v java >/dev/null || fail "java not found (Java 17+ is needed for Confluent's Parallel Consumer)"
  command -v javac >/dev/null || fail "javac not found (a JDK 17+ is needed to compile the runner)"
  local dir="$CACHE/confluent-pc-$PC_VERSION"
  local lib="$dir/lib"
  if [[ ! -f "$lib/.complete" ]]; then
    command -v mvn >/dev/null || fail "mvn not found (Maven fetches the Parallel Consumer jars from Maven Central)"
    echo "[peers] downloading Confluent Parallel Consumer $PC_VERSION into $lib" >&2
    mkdir -p "$dir"
    local tmp
    tmp="$(mktemp -d "$lib.tmp.XXXXXX")"
    if ! mvn -B -q -f "$HERE/pom.xml" -Dpc.version="$PC_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
      tail -n 20 "$tmp.log" >&2
      rm -rf "$tmp" "$tmp.log"
      fail "Maven could not fetch io.confluent.parallelconsumer:parallel-consumer-core:$PC_VERSION"
    fi
    rm -f "$tmp.log"
    ls "$tmp"/parallel-consumer-core-*.jar "$tmp"/kafka-clients-*.jar >/dev/null 2>&1 || fail "jars missing after download"
    touch "$tmp/.complete"
    rm -rf "$lib"
    mv -T "$tmp" "$lib"
  fi
  # Compile the runner once per version of its source.
  local src="$HERE/PcRunner.java"
  local stamp
  stamp="$(sha256sum "$src" | cut -c1-16)"
  local classes="$dir/classes-$stamp"
  if [[ ! -f "$classes/PcRunner.class" ]]; then
    rm -rf "$dir"/classes-*
    mkdir -p "$classes"
    javac -nowarn -d "$classes" -cp "$lib/*" "$src" >&2 || { rm -rf "$classes"; fail "javac could not compile $src"; }
  fi
  echo "CLASSPATH=$classes:$lib/*"
  echo "VERSION=$PC_VERSION"
}

# A Python >= 3.12 that really runs (pyenv shims exist for versions that are not selected):
# python3.12 on PATH, a pyenv 3.12, then newer ones.
find_python() {
  local root="${PYENV_ROOT:-$HOME/.pyenv}" candidate
  for candidate in "$(command -v python3.12 || true)" "$root"/versions/3.12*/bin/python3 \
      "$(command -v python3.13 || true)" "$root"/versions/3.1[3-9]*/bin/python3; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

setup_python() {
  local venv="$CACHE/pyrallel-py-$PYRALLEL_PY_VERSION"
  if [[ ! -f "$venv/.complete" ]]; then
    local python
    python="$(find_python)" || fail "no Python >= 3.12 found (pyrallel-consumer $PYRALLEL_PY_VERSION requires it; pyenv install 3.12)"
    echo "[peers] installing pyrallel-consumer==$PYRALLEL_PY_VERSION into $venv (with $python)" >&2
    rm -rf "$venv"
    mkdir -p "$CACHE"
    "$python" -m venv "$venv" >&2 || fail "could not create a venv with $python"
    if ! "$venv/bin/pip" install -q --disable-pip-version-check "pyrallel-consumer==$PYRALLEL_PY_VERSION" >&2; then
      rm -rf "$venv"
      fail "pip could not install pyrallel-consumer==$PYRALLEL_PY_VERSION"
    fi
    touch "$venv/.complete"
  fi
  "$venv/bin/python" -c "import pyrallel_consumer, confluent_kafka" 2>/dev/null \
    || fail "the venv $venv cannot import pyrallel_consumer (delete it to reinstall)"
  echo "PYTHON=$venv/bin/python"
  echo "VERSION=$PYRALLEL_PY_VERSION"
}

case "${1:-}" in
  java) setup_java ;;
  python) setup_python ;;
  *) fail "usage: setup.sh java|python" ;;
esac
