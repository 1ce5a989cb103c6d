"""Prints template.yaml as JSON, intrinsic functions as CloudFormation's JSON form
({"Ref": ...}, {"Fn::GetAtt": ...}), using cfn-lint's decoder.

Usage: python scripts/template_json.py template.yaml
"""

import json
import sys

from cfnlint.decode import decode

template, matches = decode(sys.argv[1])
if matches:
    sys.exit("\n".join(str(m) for m in matches))
print(json.dumps(template, default=str))
