#!/usr/bin/env bash
# `make deploy STAGE=… SENDER=… SES_DOMAIN=…`: upload build/<stage>/ and create or update the stack.
# Needs AWS credentials (any the AWS CLI finds) and the template `make package` wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
AWS="${AWS:-.venv/bin/aws}"
: "${STAGE:?STAGE is required}"
if [[ -z "${SENDER:-}" || -z "${SES_DOMAIN:-}" ]]; then
  echo "usage: make deploy STAGE=$STAGE SENDER=alerts@example.com SES_DOMAIN=example.com" \
       "[ALARM_EMAIL=ops@example.com] [PUBLIC_URL=https://patches.example.com] [KMS_KEY_ARN=arn:aws:kms:…]" \
       "[ARTIFACT_BUCKET=name]" >&2
  exit 2
fi
if [[ "${SENDER##*@}" != "$SES_DOMAIN" ]]; then
  echo "SENDER $SENDER is not in SES_DOMAIN $SES_DOMAIN" >&2
  exit 2
fi
template="build/$STAGE/template.json"
[[ -f "$template" ]] || { echo "$template is missing: run make package STAGE=$STAGE" >&2; exit 2; }

region="$($AWS configure get region || true)"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-$region}}"
[[ -n "$region" ]] || { echo "no AWS region: set AWS_REGION" >&2; exit 2; }
export AWS_DEFAULT_REGION="$region"  # AWS CLI v1 does not read AWS_REGION
account="$($AWS sts get-caller-identity --query Account --output text)"
bucket="${ARTIFACT_BUCKET:-patchcast-artifacts-$account-$region}"

# Before anything is uploaded: the concurrency the template reserves must fit the account's Lambda quota in the
# Region (a new account's can be 10); infra/quota.py says what to ask Service Quotas for when it does not.
"$(dirname "$AWS")/python" -m infra.quota "$template"
stack="patchcast-$STAGE"

# The code zip and the template (over CloudFormation's 51 KB inline limit) travel through this bucket.
if ! $AWS s3api head-bucket --bucket "$bucket" 2>/dev/null; then
  echo "creating artifact bucket $bucket"
  if [[ "$region" == "us-east-1" ]]; then
    $AWS s3api create-bucket --bucket "$bucket" >/dev/null
  else
    $AWS s3api create-bucket --bucket "$bucket" \
      --create-bucket-configuration "LocationConstraint=$region" >/dev/null
  fi
  $AWS s3api put-public-access-block --bucket "$bucket" --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
fi

$AWS cloudformation package --template-file "$template" --s3-bucket "$bucket" \
  --s3-prefix "$stack" --use-json --output-template-file "build/$STAGE/packaged.json" >/dev/null

params=("SenderAddress=$SENDER" "SesDomain=$SES_DOMAIN")
[[ -n "${ALARM_EMAIL:-}" ]] && params+=("AlarmEmail=$ALARM_EMAIL")
[[ -n "${PUBLIC_URL:-}" ]] && params+=("PublicUrl=$PUBLIC_URL")
[[ -n "${KMS_KEY_ARN:-}" ]] && params+=("KmsKeyArn=$KMS_KEY_ARN")
$AWS cloudformation deploy --stack-name "$stack" \
  --template-file "build/$STAGE/packaged.json" --s3-bucket "$bucket" --s3-prefix "$stack" \
  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
  --parameter-overrides "${params[@]}"
$AWS cloudformation describe-stacks --stack-name "$stack" \
  --query "Stacks[0].Outputs[].[OutputKey,OutputValue]" --output table
