"""Creates on moto what the functions read in AWS, for scripts/lambda-emulator-check.sh: the two
secrets (Secrets Manager, as the template creates them) and the event bus. Prints `export` lines.

Usage: python scripts/lambda_emulator_setup.py WEBHOOK_SECRET RALIO_API_CODE RALIO_API_KEY
"""

import json
import sys
import uuid

import boto3

webhook_secret, api_code, api_key = sys.argv[1:4]
suffix = uuid.uuid4().hex[:8]
secrets = boto3.client("secretsmanager")
webhook = secrets.create_secret(
    Name=f"ralio-idv/emulator-{suffix}/ralio-webhook",
    SecretString=json.dumps({"webhook_secrets": webhook_secret}),
)["ARN"]
ralio = secrets.create_secret(
    Name=f"ralio-idv/emulator-{suffix}/ralio-api",
    SecretString=json.dumps({"api_code": api_code, "api_key": api_key}),
)["ARN"]
bus = f"idv-emulator-{suffix}"
boto3.client("events").create_event_bus(Name=bus)
print(f"export WEBHOOK_SECRET_ARN={webhook} RALIO_SECRET_ARN={ralio} EVENT_BUS_NAME={bus}")
