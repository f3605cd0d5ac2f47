#!/usr/bin/env bash
# Prints one line naming the tests that the Terraform CLI in use is too old for (they skip
# themselves with tfversion.SkipBelow), so that `make test` says what it did not run and why.
set -euo pipefail
tf=${TF_ACC_TERRAFORM_PATH:-$(command -v terraform || true)}
[ -n "$tf" ] || { echo "make test: no Terraform CLI found"; exit 0; }
have=$("$tf" version -json 2>/dev/null | sed -n 's/.*"terraform_version": *"\([0-9.]*\)".*/\1/p')
older() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$1" ] && [ "$1" != "$2" ]; }
skipped=()
while IFS=: read -r file ver; do
  need=${ver//_/.}
  if older "$have" "$need"; then
    name=$(awk -v v="Version$ver)" '/^func Test/{t=$2; sub(/\(.*/,"",t)} index($0, "SkipBelow(tfversion." v){print t}' "$file" | sort -u | tr '\n' ' ')
    skipped+=("$name(needs >= $need)")
  fi
done < <(grep -rlE 'SkipBelow\(tfversion\.Version1_[0-9]+_0\)' --include='*_test.go' internal |
  while read -r f; do grep -oE 'SkipBelow\(tfversion\.Version1_[0-9]+_0\)' "$f" | sed -E "s/.*Version(1_[0-9]+_0).*/$(printf '%s' "$f" | sed 's/[\/&]/\\&/g'):\1/"; done | sort -u)
if [ ${#skipped[@]} -gt 0 ]; then
  echo "make test: Terraform $have ($tf) is older than some tests need; skipped: ${skipped[*]} -- set TF_ACC_TERRAFORM_PATH to a newer CLI to run them"
else
  echo "make test: Terraform $have ($tf) runs every version-gated test"
fi
