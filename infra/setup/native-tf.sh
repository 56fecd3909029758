#!/usr/bin/env bash
# native-tf.sh — give @tensorflow/tfjs-node[-gpu] its NATIVE TensorFlow backend
# without the package's own installer (which downloads libtensorflow and a
# prebuilt addon from storage.googleapis.com).
#
#   usage: native-tf.sh <cpu|gpu> <project_root>
#
# Run it after `npm ci --ignore-scripts` (or `npm install --ignore-scripts`) in
# <project_root>. It:
#   1. takes libtensorflow_cc.so.2 + libtensorflow_framework.so.2 + include/
#      from the PyPI TensorFlow wheel (tensorflow-cpu for cpu, tensorflow for
#      gpu), or from $CHRYSALIS_TF_LIB_DIR if set;
#   2. lays them out as tfjs-node expects in deps/ (incl. the
#      libtensorflow.so.<ver> sentinel that makes scripts/install.js skip its
#      download);
#   3. compiles binding/*.cc with g++ against the Node-API headers and links
#      tfjs_binding.node with an rpath to deps/lib;
#   4. caches the result in $CHRYSALIS_CACHE (keyed by versions + this recipe)
#      and installs it into node_modules with hard links (copy as fallback);
#   5. verifies: ldd, symbol check, backend == 'tensorflow', a matmul.
# Re-running when everything is in place is a fast no-op.
# Details and the TF 2.9 -> 2.18 differences: native-tf/README.md
#
# Environment:
#   CHRYSALIS_CACHE        cache root (default: $HOME/.cache/chrysalis)
#   CHRYSALIS_TF_LIB_DIR   use a pre-installed TensorFlow instead of the wheel: a
#                          directory holding libtensorflow_framework.so.2 and
#                          libtensorflow.so.2 or libtensorflow_cc.so.2 (directly
#                          or in lib/), plus include/ (tensorflow/c/c_api.h ...)
#   CHRYSALIS_TF_WHEEL     path to an already-downloaded wheel (skips pip download)
#   CHRYSALIS_TF_CUDA      gpu only: 'pip' (default) puts the CUDA 12 / cuDNN 9
#                          libraries from the nvidia-*-cu12 wheels into deps/nvidia,
#                          where the TF libs' RUNPATH finds them; 'system' relies on
#                          CUDA libs the dynamic loader already finds
#   CHRYSALIS_TF_STRIP     1 (default) strips .symtab/debug info from the TF libs
#                          (~30% smaller, dynamic symbols untouched); 0 keeps them
set -Eeuo pipefail

# ---------------------------------------------------------------- pinned versions
TF_VERSION=2.18.1                 # TensorFlow wheel (tensorflow-cpu / tensorflow)
TFJS_NODE_VERSION=4.22.0          # @tensorflow/tfjs-node[-gpu] this recipe is for
TF_WHEEL_PYTHON=3.11              # wheel python tag; the C/C++ libs inside are
TF_WHEEL_ABI=cp311                #   python-independent, so any host python works
TF_WHEEL_PLATFORM=manylinux2014_x86_64
NODE_API_HEADERS_VERSION=1.9.0    # npm node-api-headers, only if node's own headers are absent
# CUDA libs that tensorflow==2.18.1[and-cuda] pins (gpu flavour, CHRYSALIS_TF_CUDA=pip)
TF_CUDA_PIP_PACKAGES=(
  nvidia-cublas-cu12==12.5.3.2
  nvidia-cuda-cupti-cu12==12.5.82
  nvidia-cuda-nvcc-cu12==12.5.82
  nvidia-cuda-nvrtc-cu12==12.5.82
  nvidia-cuda-runtime-cu12==12.5.82
  nvidia-cudnn-cu12==9.3.0.75
  nvidia-cufft-cu12==11.2.3.61
  nvidia-curand-cu12==10.3.6.82
  nvidia-cusolver-cu12==11.6.3.83
  nvidia-cusparse-cu12==12.5.1.3
  nvidia-nccl-cu12==2.21.5
  nvidia-nvjitlink-cu12==12.5.82
)
# --------------------------------------------------------------------------------

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
SELF_DIR="$(dirname "$SELF")"
PATCH_DIR="$SELF_DIR/native-tf"
T0=$(date +%s)

log() { printf '[native-tf] %s\n' "$*"; }
step() { printf '[native-tf] [%4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

# die <what is missing / wrong> [failed command]
die() {
  {
    printf '[native-tf] ERROR: %s\n' "$1"
    if [ -n "${2:-}" ]; then printf '[native-tf]   failed command: %s\n' "$2"; fi
    printf '[native-tf]   To use a pre-installed TensorFlow instead of the PyPI wheel, set\n'
    printf '[native-tf]   CHRYSALIS_TF_LIB_DIR=<dir with libtensorflow_framework.so.2 and libtensorflow.so.2\n'
    printf '[native-tf]   or libtensorflow_cc.so.2 (in it or in lib/), plus include/tensorflow/c/c_api.h>\n'
  } >&2
  # inside $(...) signal "already reported" to the parent (see the ERR trap)
  if [ "$BASH_SUBSHELL" -gt 0 ]; then exit 97; fi
  exit 1
}
on_err() {
  local rc=$1 line=$2 cmd=$3
  if [ "$rc" -eq 97 ]; then   # die already printed the message in a subshell
    if [ "$BASH_SUBSHELL" -gt 0 ]; then exit 97; fi
    exit 1
  fi
  die "unexpected failure (exit $rc) at ${SELF##*/}:$line" "$cmd"
}
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR

# run <what this needs / produces> cmd... — runs cmd; on failure dies naming it
run() {
  local what=$1; shift
  local rc=0
  "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then die "$what (exit $rc)" "$(printf '%q ' "$@")"; fi
}

need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "required tool '$1' not found on PATH ($2)" "command -v $1"
}

# ------------------------------------------------------------------ arguments
if [ $# -ne 2 ]; then
  echo "usage: $0 <cpu|gpu> <project_root>" >&2
  exit 2
fi
FLAVOUR=$1
case "$FLAVOUR" in
  cpu) PKG=@tensorflow/tfjs-node;     WHEEL_DIST=tensorflow-cpu; WHEEL_PREFIX=tensorflow_cpu ;;
  gpu) PKG=@tensorflow/tfjs-node-gpu; WHEEL_DIST=tensorflow;     WHEEL_PREFIX=tensorflow ;;
  *) echo "usage: $0 <cpu|gpu> <project_root>  (got flavour '$FLAVOUR')" >&2; exit 2 ;;
esac
[ -d "$2" ] || die "project root '$2' is not a directory"
PROJECT_ROOT="$(cd "$2" && pwd -P)"
CACHE_ROOT="${CHRYSALIS_CACHE:-$HOME/.cache/chrysalis}/native-tf"
TF_LIB_DIR="${CHRYSALIS_TF_LIB_DIR:-}"
CUDA_MODE=none
if [ "$FLAVOUR" = gpu ]; then
  CUDA_MODE="${CHRYSALIS_TF_CUDA:-pip}"
  case "$CUDA_MODE" in pip|system) ;; *) die "CHRYSALIS_TF_CUDA must be 'pip' or 'system' (got '$CUDA_MODE')" ;; esac
fi
STRIP="${CHRYSALIS_TF_STRIP:-1}"

need_cmd node "Node.js, to locate $PKG and test the addon"

# ------------------------------------------------------------ locate the package
PKG_JSON="$(cd "$PROJECT_ROOT" && node -p "require.resolve('$PKG/package.json', {paths: [process.cwd()]})" 2>/dev/null)" ||
  die "$PKG is not installed under $PROJECT_ROOT — run 'npm ci --ignore-scripts' there first" \
      "node -p \"require.resolve('$PKG/package.json')\"  (cwd $PROJECT_ROOT)"
PKG_DIR="$(dirname "$(readlink -f "$PKG_JSON")")"
PKG_VERSION="$(node -p "require('$PKG_JSON').version")"
[ "$PKG_VERSION" = "$TFJS_NODE_VERSION" ] ||
  die "$PKG is $PKG_VERSION in $PKG_DIR but this recipe is pinned to $TFJS_NODE_VERSION (update TFJS_NODE_VERSION in $SELF after re-checking binding/ against TF $TF_VERSION)"

# Where tfjs-node's loader (dist/index.js: node-pre-gyp find) looks for the addon.
ADDON_PATH="$(cd "$PKG_DIR" && node -e "
  const pre = require(require.resolve('@mapbox/node-pre-gyp', {paths: [process.cwd()]}));
  console.log(pre.find(require('path').resolve('package.json')));" 2>/dev/null)" ||
  die "cannot compute the addon path with @mapbox/node-pre-gyp (dependency of $PKG) — is node_modules complete?" \
      "node -e \"require('@mapbox/node-pre-gyp').find('$PKG_DIR/package.json')\""
ADDON_REL="${ADDON_PATH#"$PKG_DIR"/}"
NAPI_BUILD_VERSION="$(basename "$(dirname "$ADDON_REL")")"; NAPI_BUILD_VERSION="${NAPI_BUILD_VERSION#napi-v}"
case "$NAPI_BUILD_VERSION" in ''|*[!0-9]*) die "unexpected addon path '$ADDON_REL' (expected lib/napi-v<N>/tfjs_binding.node)" ;; esac
# Names scripts/install.js checks (deps/lib/libtensorflow.so.2.9.1 for 4.22.0).
read -r SENTINEL_TF SENTINEL_FW < <(cd "$PKG_DIR" && node -e "
  const c = require('./scripts/deps-constants.js');
  console.log(c.depsLibTensorFlowName, c.depsLibTensorFlowFrameworkName);") ||
  die "cannot read $PKG_DIR/scripts/deps-constants.js" "node -e \"require('./scripts/deps-constants.js')\""

# ----------------------------------------------------------------- cache key
RECIPE_HASH="$( { cat "$SELF"; if [ -d "$PATCH_DIR" ]; then find "$PATCH_DIR" -type f ! -name '*.md' -print0 | sort -z | xargs -0r cat; fi; } | sha256sum | cut -c1-10)"
if [ -n "$TF_LIB_DIR" ]; then
  [ -d "$TF_LIB_DIR" ] || die "CHRYSALIS_TF_LIB_DIR='$TF_LIB_DIR' is not a directory"
  TF_LIB_DIR="$(cd "$TF_LIB_DIR" && pwd -P)"
  SRC_ID="libdir-$( { echo "$TF_LIB_DIR"; ls -lL "$TF_LIB_DIR"/libtensorflow* "$TF_LIB_DIR"/lib/libtensorflow* 2>/dev/null || true; } | sha256sum | cut -c1-10)"
else
  SRC_ID="$WHEEL_DIST-$TF_VERSION"
fi
KEY="$FLAVOUR-$SRC_ID-tfjs-node-$TFJS_NODE_VERSION-napi$NAPI_BUILD_VERSION-$(uname -m)-cuda_$CUDA_MODE-strip$STRIP-$RECIPE_HASH"
STAMP="$PKG_DIR/deps/.chrysalis-native-tf"
CACHED="$CACHE_ROOT/builds/$KEY"

# Loads the addon (and through it libtensorflow*), printing the TF version.
addon_loads() {
  node -e "process.stdout.write(require(process.argv[1]).TF_Version)" "$ADDON_PATH" 2>/dev/null
}

# ----------------------------------------------------------------- fast no-op
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ] && [ -f "$ADDON_PATH" ] &&
   [ -e "$PKG_DIR/deps/lib/$SENTINEL_TF" ] && TFV="$(addon_loads)"; then
  log "native TensorFlow $TFV for $PKG already in place in $PROJECT_ROOT — nothing to do ($KEY)"
  exit 0
fi

step "setting up native TensorFlow for $PKG@$PKG_VERSION ($FLAVOUR) in $PROJECT_ROOT"
log "  package dir: $PKG_DIR"
log "  addon:       $ADDON_REL (N-API $NAPI_BUILD_VERSION)"
log "  cache key:   $KEY"
if [ "$(uname -s)" != Linux ]; then die "only Linux is supported by this recipe (got $(uname -s))"; fi
if [ -z "$TF_LIB_DIR" ] && [ "$(uname -m)" != x86_64 ]; then
  die "the pinned wheels are x86_64-only (this is $(uname -m)); provide TensorFlow via CHRYSALIS_TF_LIB_DIR"
fi

mkdir -p "$CACHE_ROOT/builds" "$CACHE_ROOT/wheels" "$CACHE_ROOT/tmp"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_ROOT/.lock"
  flock -n 9 || { step "waiting for another native-tf.sh run holding $CACHE_ROOT/.lock"; flock 9; }
fi
STAGE=""
TMP_DIRS=()
cleanup() {
  if [ -n "$STAGE" ] && [ -d "$STAGE" ]; then rm -rf "$STAGE"; fi
  local d; for d in "${TMP_DIRS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT

# ------------------------------------------------------------------ helpers
# extract <zip> <dest> <glob>... — unzip if available, else python3 zipfile
extract() {
  local zip=$1 dest=$2; shift 2
  mkdir -p "$dest"
  if command -v unzip >/dev/null 2>&1; then
    run "extracting $* from $zip (if that file is corrupt, delete it and re-run)" unzip -q -o "$zip" "$@" -d "$dest"
  else
    need_cmd python3 "to extract $zip (no unzip)"
    run "extracting $* from $zip (if that file is corrupt, delete it and re-run)" python3 -c '
import fnmatch, sys, zipfile
zf, dest, pats = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(zf) as z:
    names = [n for n in z.namelist() if any(fnmatch.fnmatchcase(n, p) for p in pats)]
    if not names: sys.exit("no member matches %s" % pats)
    z.extractall(dest, names)' "$zip" "$dest" "$@"
  fi
}

# pip_download <dest-dir> <requirement>... (binary wheels for the pinned platform)
pip_download() {
  local dest=$1; shift
  need_cmd python3 "to download wheels with 'python3 -m pip download'"
  run "python3 -m pip (install pip for python3)" python3 -m pip --version >/dev/null
  local tmp; tmp="$(mktemp -d "$CACHE_ROOT/tmp/pip.XXXXXX")"; TMP_DIRS+=("$tmp")
  run "downloading $* from PyPI" python3 -m pip download --disable-pip-version-check --no-deps \
    --only-binary=:all: --implementation cp --python-version "$TF_WHEEL_PYTHON" --abi "$TF_WHEEL_ABI" \
    --platform "$TF_WHEEL_PLATFORM" --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
    --progress-bar off -d "$tmp" "$@"
  mv -f "$tmp"/*.whl "$dest"/
  rm -rf "$tmp"
}

# Sets WHEEL_PATH to the cached TF wheel, downloading it if needed.
fetch_tf_wheel() {
  local dir="$CACHE_ROOT/wheels" w
  w="$(find "$dir" -maxdepth 1 -name "$WHEEL_PREFIX-$TF_VERSION-*.whl" | sort | head -n1)"
  if [ -n "$w" ]; then step "using cached wheel $w"; WHEEL_PATH=$w; return; fi
  if [ -n "${CHRYSALIS_TF_WHEEL:-}" ]; then
    [ -f "$CHRYSALIS_TF_WHEEL" ] || die "CHRYSALIS_TF_WHEEL='$CHRYSALIS_TF_WHEEL' does not exist"
    case "$(basename "$CHRYSALIS_TF_WHEEL")" in
      "$WHEEL_PREFIX-$TF_VERSION-"*.whl) ;;
      *) die "CHRYSALIS_TF_WHEEL='$CHRYSALIS_TF_WHEEL' is not a $WHEEL_DIST $TF_VERSION wheel" ;;
    esac
    step "copying $CHRYSALIS_TF_WHEEL into the cache"
    cp "$CHRYSALIS_TF_WHEEL" "$dir/.partial.whl" && mv "$dir/.partial.whl" "$dir/$(basename "$CHRYSALIS_TF_WHEEL")"
  else
    step "downloading $WHEEL_DIST==$TF_VERSION wheel from PyPI (python3 -m pip download) into $dir"
    pip_download "$dir" "$WHEEL_DIST==$TF_VERSION"
  fi
  w="$(find "$dir" -maxdepth 1 -name "$WHEEL_PREFIX-$TF_VERSION-*.whl" | sort | head -n1)"
  [ -n "$w" ] || die "no $WHEEL_PREFIX-$TF_VERSION-*.whl in $dir after download"
  WHEEL_PATH=$w
}

# Sets NODE_INC to a directory with node_api.h (node's own headers, else npm node-api-headers).
find_node_headers() {
  local d
  for d in "${NODE_API_HEADERS_DIR:-}" \
           "$(node -p "require('path').resolve(process.execPath, '../../include/node')")" \
           /usr/include/node /usr/local/include/node; do
    if [ -n "$d" ] && [ -f "$d/node_api.h" ] && [ -f "$d/js_native_api.h" ]; then NODE_INC=$d; return; fi
  done
  d="$CACHE_ROOT/node-api-headers-$NODE_API_HEADERS_VERSION"
  if [ ! -f "$d/include/node_api.h" ]; then
    need_cmd npm "to fetch node-api-headers (Node's own headers were not found)"
    step "Node headers not found; fetching node-api-headers@$NODE_API_HEADERS_VERSION with npm pack"
    local tmp; tmp="$(mktemp -d "$CACHE_ROOT/tmp/nah.XXXXXX")"; TMP_DIRS+=("$tmp")
    (cd "$tmp" && run "node-api-headers from the npm registry" npm pack --silent "node-api-headers@$NODE_API_HEADERS_VERSION" >/dev/null)
    run "unpacking node-api-headers" tar -xzf "$tmp"/node-api-headers-*.tgz -C "$tmp"
    rm -rf "$d"; mv "$tmp/package" "$d"; rm -rf "$tmp"
  fi
  NODE_INC="$d/include"
}

# --------------------------------------------------------------- build to cache
build_into_cache() {
  need_cmd g++ "C++ compiler for the addon"
  need_cmd nm "binutils, to check the TensorFlow C API symbols"
  STAGE="$(mktemp -d "$CACHE_ROOT/tmp/build.XXXXXX")"
  local out="$STAGE/out" src_lib src_inc
  mkdir -p "$out/deps/lib" "$out/deps/include" "$out/$(dirname "$ADDON_REL")" "$STAGE/obj"

  # 1. TensorFlow libs + headers
  if [ -n "$TF_LIB_DIR" ]; then
    step "using pre-installed TensorFlow from CHRYSALIS_TF_LIB_DIR=$TF_LIB_DIR"
    src_lib="$TF_LIB_DIR"; [ -e "$src_lib/libtensorflow_framework.so.2" ] || src_lib="$TF_LIB_DIR/lib"
    src_inc="$TF_LIB_DIR/include"
  else
    fetch_tf_wheel; local whl=$WHEEL_PATH
    step "extracting libtensorflow_cc.so.2, libtensorflow_framework.so.2 and include/ from $(basename "$whl")"
    extract "$whl" "$STAGE/wheel" 'tensorflow/libtensorflow_cc.so.2' 'tensorflow/libtensorflow_framework.so.2' 'tensorflow/include/*'
    src_lib="$STAGE/wheel/tensorflow"; src_inc="$src_lib/include"
  fi
  [ -e "$src_lib/libtensorflow_framework.so.2" ] || die "libtensorflow_framework.so.2 not found in $src_lib" "test -e $src_lib/libtensorflow_framework.so.2"
  [ -f "$src_inc/tensorflow/c/c_api.h" ] && [ -f "$src_inc/tensorflow/c/eager/c_api.h" ] ||
    die "TensorFlow C API headers (tensorflow/c/c_api.h, tensorflow/c/eager/c_api.h) not found in $src_inc" "test -f $src_inc/tensorflow/c/c_api.h"
  # The C API lives in libtensorflow.so.2 (libtensorflow tarballs) or, in pip wheels, in libtensorflow_cc.so.2.
  local capi="" cand
  for cand in libtensorflow.so.2 libtensorflow_cc.so.2; do
    if [ -e "$src_lib/$cand" ] && [ "$(nm -D --defined-only "$src_lib/$cand" | grep -cE ' T TFE_Execute(@|$)')" -gt 0 ]; then capi=$cand; break; fi
  done
  [ -n "$capi" ] || die "no library in $src_lib exports the TensorFlow eager C API (TFE_Execute); looked for libtensorflow.so.2 and libtensorflow_cc.so.2" \
    "nm -D --defined-only $src_lib/libtensorflow_cc.so.2 | grep TFE_Execute"
  step "TensorFlow C API found in $capi (+ libtensorflow_framework.so.2)"

  local f
  for f in "$capi" libtensorflow_framework.so.2; do
    if [ "$STRIP" = 1 ] && command -v strip >/dev/null 2>&1; then
      step "copying $f into deps/lib (strip --strip-unneeded: drops .symtab/debug info only)"
      run "stripping $f" strip --strip-unneeded -o "$out/deps/lib/$f" "$src_lib/$f"
    else
      step "copying $f into deps/lib"
      run "copying $f" cp -L "$src_lib/$f" "$out/deps/lib/$f"
    fi
    chmod 755 "$out/deps/lib/$f"
  done
  # Names binding.gyp links against (-ltensorflow -ltensorflow_framework), the
  # .so.2 names, and the sentinel names scripts/install.js checks.
  ( cd "$out/deps/lib"
    for f in libtensorflow.so libtensorflow.so.2 "$SENTINEL_TF"; do [ -e "$f" ] || ln -s "$capi" "$f"; done
    for f in libtensorflow_framework.so "$SENTINEL_FW"; do [ -e "$f" ] || ln -s libtensorflow_framework.so.2 "$f"; done )

  # 2. addon sources (+ patches from native-tf/*.patch, if any)
  cp -r "$PKG_DIR/binding" "$STAGE/binding"
  local p
  for p in "$PATCH_DIR"/*.patch; do
    [ -e "$p" ] || continue
    step "applying $(basename "$p")"
    run "applying patch $p" patch -d "$STAGE/binding" -p1 --forward --batch -i "$p"
  done

  # 3. compile (2 jobs max) and link
  find_node_headers; local node_inc=$NODE_INC
  local cxxflags=(-std=c++17 -O2 -fPIC -fvisibility=hidden -pthread -w
                  "-DNAPI_VERSION=$NAPI_BUILD_VERSION" -DNODE_GYP_MODULE_NAME=tfjs_binding -DBUILDING_NODE_EXTENSION
                  -I"$node_inc" -I"$STAGE/binding" -I"$src_inc")
  step "compiling binding/tfjs_backend.cc and binding/tfjs_binding.cc (g++ -std=c++17 -O2, 2 jobs; Node-API headers: $node_inc)"
  local pids=() s
  for s in tfjs_backend tfjs_binding; do
    g++ "${cxxflags[@]}" -MD -MF "$STAGE/obj/$s.d" -c "$STAGE/binding/$s.cc" -o "$STAGE/obj/$s.o" 2>"$STAGE/obj/$s.log" &
    pids+=($!)
  done
  local i=0
  for s in tfjs_backend tfjs_binding; do
    if ! wait "${pids[$i]}"; then
      cat "$STAGE/obj/$s.log" >&2
      die "compiling binding/$s.cc against the TensorFlow headers in $src_inc failed (see errors above)" \
          "g++ ${cxxflags[*]} -c binding/$s.cc"
    fi
    i=$((i + 1))
  done
  local rpath; rpath="\$ORIGIN/$(realpath -m --relative-to="$PKG_DIR/$(dirname "$ADDON_REL")" "$PKG_DIR/deps/lib")"
  step "linking $ADDON_REL (-ltensorflow -ltensorflow_framework, rpath $rpath)"
  run "linking tfjs_binding.node" g++ -shared -pthread -o "$out/$ADDON_REL" "$STAGE/obj/tfjs_backend.o" "$STAGE/obj/tfjs_binding.o" \
    -L"$out/deps/lib" -ltensorflow -ltensorflow_framework "-Wl,-rpath,$rpath" -Wl,--as-needed -Wl,-O1

  # 4. every TF_/TFE_ function the addon imports must be exported by the libs
  # (node loads addons with lazy binding, so a missing one would only fail when called)
  step "checking that the TF C API symbols the addon uses are exported"
  local missing
  missing="$(comm -23 \
    <(nm -D --undefined-only "$out/$ADDON_REL" | awk '{print $2}' | sed 's/@.*//' | { grep -E '^TFE?_' || true; } | sort -u) \
    <(nm -D --defined-only "$out/deps/lib/$capi" "$out/deps/lib/libtensorflow_framework.so.2" | awk 'NF==3{print $3}' | sed 's/@.*//' | sort -u))"
  [ -z "$missing" ] || die "TensorFlow C API symbols used by the addon are not exported by $capi/libtensorflow_framework.so.2: $(printf '%s ' $missing)" \
    "nm -D --defined-only deps/lib/$capi"

  # 5. the headers the addon was compiled against (keeps deps/ usable by binding.gyp/node-gyp)
  step "copying the $(cat "$STAGE"/obj/*.d | tr ' \\' '\n\n' | { grep "^$src_inc/" || true; } | sort -u | wc -l) TF headers the addon includes into deps/include"
  ( cd "$src_inc" && cat "$STAGE"/obj/*.d | tr ' \\' '\n\n' | grep "^$src_inc/" | sed "s|^$src_inc/||" | sort -u |
      xargs -r cp --parents -t "$out/deps/include" )

  # 6. gpu: CUDA/cuDNN from the nvidia-*-cu12 wheels into deps/nvidia/<x>/lib
  #    (the wheel's TF libs have RUNPATH $ORIGIN/../nvidia/<x>/lib)
  if [ "$CUDA_MODE" = pip ]; then
    local cdir="$CACHE_ROOT/wheels/cuda-tf$TF_VERSION" r name
    mkdir -p "$cdir"
    for r in "${TF_CUDA_PIP_PACKAGES[@]}"; do
      name="${r%%==*}"; name="${name//-/_}-${r##*==}-"
      if [ -z "$(find "$cdir" -maxdepth 1 -name "$name*.whl")" ]; then
        step "downloading $r (python3 -m pip download)"
        pip_download "$cdir" "$r"
      fi
      step "extracting nvidia/ from $(basename "$(find "$cdir" -maxdepth 1 -name "$name*.whl" | head -n1)") into deps/"
      extract "$(find "$cdir" -maxdepth 1 -name "$name*.whl" | head -n1)" "$out/deps" 'nvidia/*'
    done
  fi

  echo "$KEY" > "$out/.key"
  rm -rf "$CACHED"
  mv "$out" "$CACHED"
  touch "$CACHED/.complete"
  step "cached build in $CACHED"
  local old   # builds of the same versions made by an older revision of this recipe
  for old in "$CACHE_ROOT/builds/${KEY%-*}"-*; do
    if [ -d "$old" ] && [ "$old" != "$CACHED" ]; then step "removing outdated cached build $(basename "$old")"; rm -rf "$old"; fi
  done
}

# --------------------------------------------------------------------- main
if [ -f "$CACHED/.complete" ]; then
  step "found cached build $CACHED — no compile needed"
else
  build_into_cache
fi

step "installing into $PKG_DIR (deps/ and $ADDON_REL; hard links into the cache, copies if that fails)"
rm -rf "$PKG_DIR/deps" "$ADDON_PATH"
mkdir -p "$(dirname "$ADDON_PATH")"
if ! cp -al "$CACHED/deps" "$PKG_DIR/deps" 2>/dev/null; then
  rm -rf "$PKG_DIR/deps"
  run "copying $CACHED/deps" cp -a "$CACHED/deps" "$PKG_DIR/deps"
fi
cp -l "$CACHED/$ADDON_REL" "$ADDON_PATH" 2>/dev/null || run "copying the addon" cp -a "$CACHED/$ADDON_REL" "$ADDON_PATH"

# A build that fails verification is dropped from the cache (the next run rebuilds).
verify_failed() {
  rm -f "$STAMP"
  if [ -d "$CACHED" ]; then log "removing cached build $CACHED (failed verification)" >&2; rm -rf "$CACHED"; fi
  die "$@"
}
step "verifying: ldd $ADDON_REL"
LDD_OUT="$(ldd "$ADDON_PATH")" || verify_failed "ldd failed on $ADDON_PATH" "ldd $ADDON_PATH"
echo "$LDD_OUT" | grep -E 'tensorflow|not found|nvidia' | sed 's/^[[:space:]]*/[native-tf]   /' || true
if [[ $LDD_OUT == *"not found"* ]]; then verify_failed "the addon's shared libraries are not all found (see 'not found' above)" "ldd $ADDON_PATH"; fi

step "verifying: require('$PKG'), backend, matmul"
VERIFY_OUT="$(cd "$PROJECT_ROOT" && TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" node -e "
  const tf = require('$PKG');
  const b = tf.getBackend();
  if (b !== 'tensorflow') { console.error('backend is ' + b + ', expected tensorflow'); process.exit(1); }
  const r = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5], [6]])).arraySync();
  if (JSON.stringify(r) !== '[[17],[39]]') { console.error('bad matmul ' + JSON.stringify(r)); process.exit(1); }
  const be = tf.backend();
  console.log('backend=' + b + ' TF_Version=' + be.binding.TF_Version + ' tfjs-node=' + tf.version['tfjs-node'] +
              ' matmul=' + JSON.stringify(r) + ' usingGpu=' + be.isUsingGpuDevice);
" 2>&1)" || { echo "$VERIFY_OUT" >&2; verify_failed "$PKG does not run on the native backend (output above)" "node -e \"require('$PKG')...\"  (cwd $PROJECT_ROOT)"; }
log "  $VERIFY_OUT"

echo "$KEY" > "$STAMP"
step "done: native TensorFlow ready for $PKG in $PROJECT_ROOT"
