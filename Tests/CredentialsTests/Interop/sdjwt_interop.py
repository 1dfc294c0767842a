"""Interoperability check between Ensure's SD-JWT VC code and the SD-JWT reference implementation (PyPI sd-jwt).

Run by Tests/CredentialsTests/InteropTests.swift with the venv that scripts/setup creates. Two modes:

  verify --presentation FILE --issuer-jwk FILE --nonce N --aud A
      Verifies a presentation made by Ensure (issuer signature, disclosures, key binding with nonce, aud and
      sd_hash) and prints the verified payload as JSON.

  issue --nonce N --aud A --iat T --exp T --idx I --status-uri U --iss U --vct V
      Issues an age credential with the reference implementation (ES256, typ dc+sd-jwt, kid py-issuer-1),
      presents it disclosing only age_over_18 with a key-binding JWT, and prints
      {"issuer_jwk": .., "presentation": ..} as JSON.
"""

import argparse
import json
import sys

from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier


def verify(args):
    with open(args.presentation) as f:
        presentation = f.read().strip()
    with open(args.issuer_jwk) as f:
        issuer_jwk = JWK.from_json(f.read())
    seen = {}

    def issuer_key(iss, header):
        seen["iss"] = iss
        seen["header"] = dict(header)
        return issuer_jwk

    verifier = SDJWTVerifier(presentation, issuer_key, expected_aud=args.aud, expected_nonce=args.nonce)
    payload = verifier.get_verified_payload()
    print(json.dumps({"payload": payload, "header": seen["header"]}))


def issue(args):
    issuer_key = JWK.generate(kty="EC", crv="P-256", kid="py-issuer-1")
    holder_key = JWK.generate(kty="EC", crv="P-256")
    claims = {
        "iss": args.iss,
        "iat": args.iat,
        "exp": args.exp,
        "vct": args.vct,
        "status": {"status_list": {"idx": args.idx, "uri": args.status_uri}},
    }
    for threshold, value in [(12, True), (14, True), (16, True), (18, True), (21, False), (65, False)]:
        claims[SDObj(f"age_over_{threshold}")] = value
    issuer = SDJWTIssuer(
        claims,
        issuer_key,
        holder_key,
        sign_alg="ES256",
        add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": "py-issuer-1"},
    )
    holder = SDJWTHolder(issuer.sd_jwt_issuance)
    holder.create_presentation({"age_over_18": True}, args.nonce, args.aud, holder_key, "ES256")
    print(
        json.dumps(
            {
                "issuer_jwk": json.loads(issuer_key.export_public()),
                "issuance": issuer.sd_jwt_issuance,
                "presentation": holder.sd_jwt_presentation,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    v = sub.add_parser("verify")
    v.add_argument("--presentation", required=True)
    v.add_argument("--issuer-jwk", required=True)
    v.add_argument("--nonce", required=True)
    v.add_argument("--aud", required=True)
    i = sub.add_parser("issue")
    for name in ["--nonce", "--aud", "--status-uri", "--iss", "--vct"]:
        i.add_argument(name, required=True)
    for name in ["--iat", "--exp", "--idx"]:
        i.add_argument(name, required=True, type=int)
    args = parser.parse_args()
    {"verify": verify, "issue": issue}[args.mode](args)


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # report every failure of the reference implementation as one line
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(2)
