#!/usr/bin/env bash
# Install stripe-mock (Stripe's stateless API mock, used by tests/integration/test_stripe_backfill.py)
# into the project-local, git-ignored .tools/bin, and print the binary's absolute path (last line of
# stdout). Idempotent: does nothing when the binary there is already the pinned version.
#
# Needs Go (>= 1.22, stripe-mock's go.mod) and the Go module proxy. Fails loudly without Go:
# the suite fails rather than skips when stripe-mock is missing, so CI must install it.
#
#   scripts/install-stripe-mock.sh            # -> /abs/path/.tools/bin/stripe-mock
#   GO=/path/to/go scripts/install-stripe-mock.sh
set -euo pipefail

# Pinned for reproducibility: what `@latest` resolved to when this was written (2026-11).
STRIPE_MOCK_MODULE="github.com/stripe/stripe-mock"
STRIPE_MOCK_VERSION="v0.203.0"

root="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="$root/.tools/bin"
binary="$bin_dir/stripe-mock"

go="${GO:-$(command -v go || true)}"
if [[ -z "$go" && -x /usr/local/go/bin/go ]]; then
  go=/usr/local/go/bin/go # the official tarball's place, often not on PATH in non-login shells
fi
if [[ -z "$go" || ! -x "$go" ]]; then
  echo "install-stripe-mock: ERROR: Go not found (GO='${GO:-}', none on PATH nor at /usr/local/go/bin/go)." >&2
  echo "install-stripe-mock: stripe-mock is built with 'go install ${STRIPE_MOCK_MODULE}@${STRIPE_MOCK_VERSION}'." >&2
  exit 1
fi

# `stripe-mock -version` prints "master" for `go install` builds; the module version is in the
# build info that `go version -m` reads.
installed_version() {
  "$go" version -m "$binary" 2>/dev/null | awk '$1 == "mod" && $2 == "'"$STRIPE_MOCK_MODULE"'" { print $3 }'
}

if [[ -x "$binary" && "$(installed_version)" == "$STRIPE_MOCK_VERSION" ]]; then
  echo "install-stripe-mock: ${STRIPE_MOCK_VERSION} already installed" >&2
else
  echo "install-stripe-mock: go install ${STRIPE_MOCK_MODULE}@${STRIPE_MOCK_VERSION} -> ${bin_dir} ($("$go" version))" >&2
  mkdir -p "$bin_dir"
  start=$SECONDS
  GOBIN="$bin_dir" "$go" install "${STRIPE_MOCK_MODULE}@${STRIPE_MOCK_VERSION}"
  got="$(installed_version)"
  if [[ "$got" != "$STRIPE_MOCK_VERSION" ]]; then
    echo "install-stripe-mock: ERROR: ${binary} reports version '${got}', expected ${STRIPE_MOCK_VERSION}" >&2
    exit 1
  fi
  echo "install-stripe-mock: installed in $((SECONDS - start))s" >&2
fi
echo "$binary"
