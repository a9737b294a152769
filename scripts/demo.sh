#!/usr/bin/env bash
# `make demo`: a throwaway vault, end to end, with every command shown as you would type it.
# Nothing outside a temp directory is touched: identity, config and vault all live there.
set -euo pipefail

BIN="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin"
export PATH="$BIN:$PATH"
DEMO="$(mktemp -d -t secretctl-demo.XXXXXX)"
trap 'rm -rf "$DEMO"' EXIT
export HOME="$DEMO/home" SECRETCTL_CONFIG_DIR="$DEMO/config" SECRETCTL_DATA_DIR="$DEMO/data"
export GIT_CONFIG_GLOBAL="$DEMO/gitconfig"
mkdir -p "$HOME"
git config --global user.name "Demo User"
git config --global user.email demo@example.com
unset SECRETCTL_VAULT SECRETCTL_PASSWORD SECRETCTL_IDENTITY

if [ -n "${NO_COLOR:-}" ] || [ ! -t 1 ]; then bold=""; plain=""; else bold=$'\033[1m'; plain=$'\033[0m'; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }
run() { step "$*"; "$@"; }

VAULT="$DEMO/vault"
run secretctl identity new --no-passphrase
run secretctl init "$VAULT" --name demo
cd "$VAULT"

step "printf 'sk_live_51Hdemo0000SECRETVALUE9xyz' | secretctl set payments/stripe_key --tags payments --expires 90d"
printf 'sk_live_51Hdemo0000SECRETVALUE9xyz' | secretctl set payments/stripe_key --tags payments --expires 90d
step "printf 'AKIADEMO1234567890AB' | secretctl set aws/access_key_id"
printf 'AKIADEMO1234567890AB' | secretctl set aws/access_key_id
step "printf 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYDEMOKEY' | secretctl set aws/secret_access_key"
printf 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYDEMOKEY' | secretctl set aws/secret_access_key
run secretctl list
run secretctl list 'aws/*' --json
run secretctl get aws/access_key_id --masked
step "secretctl get payments/stripe_key   # the exact bytes, for scripts"
secretctl get payments/stripe_key; echo

step "age -d -i \$SECRETCTL_CONFIG_DIR/identity.age aws/access_key_id.age   # plain age reads it too"
age -d -i "$SECRETCTL_CONFIG_DIR/identity.age" aws/access_key_id.age; echo
run cat aws/access_key_id.meta.yaml
run git log --format='%h %s' -n 5

step "secretctl run -k 'aws/*' -- sh -c 'echo key=\$AWS_ACCESS_KEY_ID; echo \$AWS_SECRET_ACCESS_KEY | base64; echo \$AWS_SECRET_ACCESS_KEY | rev'"
secretctl run -k 'aws/*' -- sh -c 'echo key=$AWS_ACCESS_KEY_ID; echo $AWS_SECRET_ACCESS_KEY | base64; echo $AWS_SECRET_ACCESS_KEY | rev'

step "cat .secretctl/policy.yaml   # what an agent may run (deny by default), committed"
mkdir -p .secretctl
cat > .secretctl/policy.yaml <<'POLICY'
version: 1
default_action: deny
allowed_commands: [sh]
commands:
  sh: {keys: ["aws/**"]}
POLICY
cat .secretctl/policy.yaml
git add .secretctl/policy.yaml && git commit -qm "agent policy"
run secretctl policy check -k 'aws/*' -- sh -c 'aws s3 ls'
step "secretctl policy check -k 'payments/*' -- sh -c true   # keys outside the rule"
secretctl policy check -k 'payments/*' -- sh -c true || true
step "secretctl policy check -- printenv   # environment dumpers are always blocked"
secretctl policy check -- printenv || true
step "SECRETCTL_AGENT=1 secretctl run -k 'aws/*' -- sh -c 'echo \$AWS_SECRET_ACCESS_KEY | fold -w 8'   # as an agent"
SECRETCTL_AGENT=1 secretctl run -k 'aws/*' -- sh -c 'echo $AWS_SECRET_ACCESS_KEY | fold -w 8'

run git status --short
printf '\nDemo finished: the vault in %s is deleted on exit.\n' "$VAULT"
