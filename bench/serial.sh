#!/usr/bin/env bash
# The seed's way: the same scanner commands secpipe runs, one after another, as serial
# CodeBuild stages would. Usage: bench/serial.sh EXAMPLE_DIR OUT_DIR ISTIO_CHECKS_DIR (tools on PATH)
set -u
src=$1; out=$2; istio=$3
mkdir -p "$out"
cd "$src"
export GIT_CONFIG_COUNT=3
export GIT_CONFIG_KEY_0=secrets.patterns GIT_CONFIG_VALUE_0='(A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA)[A-Z0-9]{16}'
export GIT_CONFIG_KEY_1=secrets.patterns GIT_CONFIG_VALUE_1='-----BEGIN[A-Z[:blank:]]*PRIVATE[[:blank:]]KEY-----'
export GIT_CONFIG_KEY_2=secrets.allowed GIT_CONFIG_VALUE_2='AKIAIOSFODNN7EXAMPLE'
git secrets --scan --untracked -- . 2> "$out/gs-tree.txt"
git secrets --scan-history 2> "$out/gs-history.txt"
detect-secrets scan --all-files --exclude-files '(^|/)(\.git|node_modules|\.secpipe)(/|$)' --no-verify . > "$out/ds.json"
# the example's secrets stage: trufflehog3 on the tree, kingfisher on the tree and history
trufflehog3 --format JSON --output "$out/th3.json" --no-history . || true
kingfisher scan . --format json --output "$out/kingfisher.json" --quiet --no-update-check \
  --no-dedup --rule-cache-dir "${XDG_CACHE_HOME:-$HOME/.cache}/secpipe/kingfisher-rules" \
  --no-validate --confidence medium --exclude .secpipe --exclude node_modules || true
# every Dockerfile of the tree, as secpipe's adapter does (the example has one, at the root)
git ls-files -z -- 'Dockerfile' '**/Dockerfile' | xargs -0 hadolint --no-fail -f json > "$out/hadolint.json"
checkov -d . -o json --output-file-path "$out/checkov" --skip-download \
  --framework dockerfile kubernetes helm terraform cloudformation secrets \
  --skip-path node_modules --skip-path .secpipe --external-checks-dir "$istio" > /dev/null || true
