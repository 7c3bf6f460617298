"""Drive kubesealpy (an independent Python implementation of Sealed Secrets) for Fjord's
interoperability test. Values travel as hex so that binary data survives.

  seal CERT      stdin: {"name", "namespace", "scope", "data": {key: hex}}  -> SealedSecret JSON
  unseal KEY     stdin: SealedSecret JSON (e.g. made by Fjord)              -> {key: hex}
"""
import json
import sys

from kubesealpy import SealedSecret, Sealer, SealingScope, Unsealer


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    request = json.load(sys.stdin)
    if mode == "seal":
        sealer = Sealer.from_certificate_file(path)
        sealed = sealer.seal(
            name=request["name"],
            namespace=request["namespace"],
            data={k: bytes.fromhex(v) for k, v in request["data"].items()},
            scope=SealingScope(request["scope"]),
        )
        json.dump(sealed.model_dump(by_alias=True, exclude_none=True), sys.stdout)
    elif mode == "unseal":
        unsealer = Unsealer.from_private_key_file(path)
        secret = unsealer.unseal(SealedSecret.model_validate(request))
        import base64

        json.dump(
            {k: base64.b64decode(v).hex() for k, v in (secret.data or {}).items()},
            sys.stdout,
        )
    else:
        raise SystemExit(f"unknown mode {mode}")


main()
