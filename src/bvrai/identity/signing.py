"""The organization's signing secret for requests BVRAI sends to its servers (custom tools).

Derived from the app secret and the org id, so no row has to hold it and every process agrees on it;
``GET /v1/organization/signing-secret`` shows it to the org's admins so their servers can verify the
Standard Webhooks signature.
"""

from __future__ import annotations

import base64

from bvrai.kit.crypto import keyed_hash


def org_signing_secret(app_secret: str, org_id: str) -> str:
    digest = bytes.fromhex(keyed_hash(app_secret, org_id, purpose="tool-signing"))
    return "whsec_" + base64.b64encode(digest).decode()
