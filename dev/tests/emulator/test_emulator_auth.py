"""Auth against the emulator over real HTTP, with google-auth as the client."""

import json
import time

import google.auth
import google.auth.transport.requests as gtr
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import compute_engine, crypt, impersonated_credentials, jwt
from google.auth.exceptions import RefreshError
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

COMPUTE_RO = "https://www.googleapis.com/auth/compute.readonly"
CLOUD = "https://www.googleapis.com/auth/cloud-platform"


def _compute_url(emulator, project="proj"):
    return f"{emulator.url}/compute/v1/projects/{project}/aggregated/instances"


def _assertion(info, **claims):
    """A JWT-bearer assertion signed with the key in ``info``, claims overridable."""
    now = int(time.time())
    payload = {"iss": info["client_email"], "aud": info["token_uri"], "iat": now, "exp": now + 3600, "scope": CLOUD}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(crypt.RSASigner.from_service_account_info(info), payload).decode()


def _post_token(emulator, assertion):
    return requests.post(
        emulator.token_uri,
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        timeout=10,
    )


def _forged(info, same_kid=True):
    """``info`` with a fresh key the emulator never saw (same email)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {**info, "private_key": pem, "private_key_id": info["private_key_id"] if same_kid else "f" * 40}


def test_service_account_key_file_gets_token_and_lists(emulator, sa_key_file):
    emulator.add_project("proj", ["us-central1-a"])
    creds = service_account.Credentials.from_service_account_file(str(sa_key_file), scopes=[COMPUTE_RO])
    session = gtr.AuthorizedSession(creds)
    response = session.get(_compute_url(emulator), timeout=10)
    assert response.status_code == 200, response.text
    assert emulator.tokens_issued == 1
    token_request = next(r for r in emulator.requests if r.path == "/token")
    form = token_request.form()
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(form["assertion"], verify=False)
    assert claims["iss"] == "sa@proj.iam.gserviceaccount.com"
    api_request = emulator.requests[-1]
    assert api_request.headers.get("AUTHORIZATION") == f"Bearer {creds.token}"


@pytest.mark.parametrize("same_kid", [True, False])
def test_other_key_with_same_email_is_rejected(emulator, same_kid):
    info = emulator.make_service_account()
    forged = _forged(info, same_kid=same_kid)
    creds = service_account.Credentials.from_service_account_info(forged, scopes=[CLOUD])
    with pytest.raises(RefreshError, match="invalid_grant") as caught:
        creds.refresh(gtr.Request())
    assert "Invalid JWT Signature." in str(caught.value)
    assert emulator.tokens_issued == 0
    assert emulator.requests[-1].status == 400


def test_unknown_service_account_is_rejected(emulator):
    info = emulator.make_service_account()
    response = _post_token(emulator, _assertion(_forged(info), iss="ghost@proj.iam.gserviceaccount.com"))
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "Invalid grant: account not found"}


def test_expired_and_too_long_jwts_are_rejected(emulator):
    info = emulator.make_service_account()
    now = int(time.time())
    expired = _post_token(emulator, _assertion(info, iat=now - 7200, exp=now - 3600))
    too_long = _post_token(emulator, _assertion(info, iat=now, exp=now + 7200))
    for response in (expired, too_long):
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == "invalid_grant"
        assert "iat and exp" in body["error_description"]
    assert _post_token(emulator, _assertion(info)).status_code == 200


def test_wrong_audience_missing_scope_and_bad_grant(emulator):
    info = emulator.make_service_account()
    wrong_aud = _post_token(emulator, _assertion(info, aud="https://example.com/token"))
    assert wrong_aud.status_code == 400
    assert "audience" in wrong_aud.json()["error_description"]
    no_scope = _post_token(emulator, _assertion(info, scope=None))
    assert no_scope.status_code == 400
    assert no_scope.json()["error"] == "invalid_scope"
    bad_grant = requests.post(emulator.token_uri, data={"grant_type": "password"}, timeout=10)
    assert bad_grant.status_code == 400
    assert bad_grant.json()["error"] == "unsupported_grant_type"
    not_a_jwt = _post_token(emulator, "not-a-jwt")
    assert not_a_jwt.json()["error"] == "invalid_grant"


def test_authorized_user_refresh_token(emulator):
    emulator.add_project("proj", ["us-central1-a"])
    info = emulator.make_authorized_user("alice@example.com")
    # google-auth ignores token_uri in authorized_user info (always Google's): override it
    creds = user_credentials.Credentials.from_authorized_user_info(info).with_token_uri(info["token_uri"])
    response = gtr.AuthorizedSession(creds).get(_compute_url(emulator), timeout=10)
    assert response.status_code == 200, response.text
    assert emulator.tokens_issued == 1
    assert emulator.auth.tokens[creds.token].principal == "alice@example.com"
    wrong = user_credentials.Credentials.from_authorized_user_info({**info, "refresh_token": "1//revoked"})
    wrong = wrong.with_token_uri(info["token_uri"])
    with pytest.raises(RefreshError, match="invalid_grant"):
        wrong.refresh(gtr.Request())


def test_metadata_server_credentials(metadata_env, monkeypatch, tmp_path):
    emulator = metadata_env
    emulator.metadata_project = "mdproj"
    emulator.add_project("mdproj", ["europe-west4-a"])
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud ADC file of this machine
    creds, project = google.auth.default()
    assert isinstance(creds, compute_engine.Credentials)
    assert project == "mdproj"
    response = gtr.AuthorizedSession(creds).get(_compute_url(emulator, "mdproj"), timeout=10)
    assert response.status_code == 200, response.text
    assert creds.service_account_email == emulator.metadata_email
    assert emulator.tokens_issued == 1
    token_calls = [r for r in emulator.requests if r.kind == "metadata.token"]
    assert len(token_calls) == 1
    assert token_calls[0].headers.get("metadata-flavor") == "Google"


def test_metadata_server_requires_flavor_header(emulator):
    path = "/computeMetadata/v1/instance/service-accounts/default/token"
    refused = requests.get(emulator.url + path, timeout=10)
    assert refused.status_code == 403
    assert emulator.tokens_issued == 0
    granted = requests.get(emulator.url + path, headers={"Metadata-Flavor": "Google"}, timeout=10)
    assert granted.status_code == 200
    assert granted.headers["Metadata-Flavor"] == "Google"
    assert set(granted.json()) == {"access_token", "expires_in", "token_type"}
    info = requests.get(
        emulator.url + "/computeMetadata/v1/instance/service-accounts/default/",
        params={"recursive": "true"},
        headers={"Metadata-Flavor": "Google"},
        timeout=10,
    ).json()
    assert info["email"] == emulator.metadata_email
    assert CLOUD in info["scopes"]


def test_impersonation_through_iam_credentials(emulator, sa_key_file):
    emulator.add_project("proj", ["us-central1-a"])
    target = emulator.make_service_account("deployer@proj.iam.gserviceaccount.com")["client_email"]
    source = service_account.Credentials.from_service_account_file(str(sa_key_file), scopes=[CLOUD])
    creds = impersonated_credentials.Credentials(
        source_credentials=source,
        target_principal=target,
        target_scopes=[COMPUTE_RO],
        iam_endpoint_override=f"{emulator.url}/v1/projects/-/serviceAccounts/{target}:generateAccessToken",
    )
    response = gtr.AuthorizedSession(creds).get(_compute_url(emulator), timeout=10)
    assert response.status_code == 200, response.text
    assert emulator.tokens_issued == 2  # source token, then the impersonated one
    iam_call = next(r for r in emulator.requests if r.kind == "iam.generateAccessToken")
    source_token = iam_call.headers.get("authorization").removeprefix("Bearer ")
    assert emulator.auth.tokens[source_token].principal == source.service_account_email
    assert iam_call.json()["scope"] == [COMPUTE_RO]
    assert emulator.auth.tokens[creds.token].principal == target


def test_impersonation_needs_a_valid_source_token_and_known_target(emulator):
    url = f"{emulator.url}/v1/projects/-/serviceAccounts/nobody@proj.iam.gserviceaccount.com:generateAccessToken"
    assert requests.post(url, json={"scope": [CLOUD]}, timeout=10).status_code == 401
    emulator.add_access_token("source-token")
    missing = requests.post(url, json={"scope": [CLOUD]}, headers={"Authorization": "Bearer source-token"}, timeout=10)
    assert missing.status_code == 404


def test_requests_without_valid_token_are_refused(emulator):
    emulator.add_project("proj", ["us-central1-a"])
    missing = requests.get(_compute_url(emulator), timeout=10)
    assert missing.status_code == 401
    assert missing.json()["error"]["errors"][0]["reason"] == "required"
    unknown = requests.get(_compute_url(emulator), headers={"Authorization": "Bearer nope"}, timeout=10)
    assert unknown.status_code == 401
    body = unknown.json()["error"]
    assert body["status"] == "UNAUTHENTICATED"
    assert body["errors"][0]["reason"] == "authError"
    assert "invalid_token" in unknown.headers["WWW-Authenticate"]


def test_registered_access_token_and_scopes(emulator):
    emulator.add_project("proj", ["us-central1-a"])
    emulator.add_access_token("ya29.user-supplied")
    ok = requests.get(_compute_url(emulator), headers={"Authorization": "Bearer ya29.user-supplied"}, timeout=10)
    assert ok.status_code == 200
    emulator.add_access_token("storage-only", scopes=["https://www.googleapis.com/auth/devstorage.read_only"])
    denied = requests.get(_compute_url(emulator), headers={"Authorization": "Bearer storage-only"}, timeout=10)
    assert denied.status_code == 403
    assert denied.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
    assert emulator.tokens_issued == 0


def test_token_ttl_expiry_gives_401(emulator):
    emulator.add_project("proj", ["us-central1-a"])
    info = emulator.make_service_account()
    emulator.token_ttl = 1
    issued = _post_token(emulator, _assertion(info))
    assert issued.json()["expires_in"] == 1
    headers = {"Authorization": "Bearer " + issued.json()["access_token"]}
    assert requests.get(_compute_url(emulator), headers=headers, timeout=10).status_code == 200
    time.sleep(1.1)
    expired = requests.get(_compute_url(emulator), headers=headers, timeout=10)
    assert expired.status_code == 401
    assert expired.json()["error"]["status"] == "UNAUTHENTICATED"


def test_self_signed_jwt_is_accepted_as_bearer(emulator):
    emulator.add_project("proj", ["us-central1-a"])
    info = emulator.make_service_account()
    creds = jwt.Credentials.from_service_account_info(info, audience="https://compute.googleapis.com/")
    assert gtr.AuthorizedSession(creds).get(_compute_url(emulator), timeout=10).status_code == 200
    forged = jwt.Credentials.from_service_account_info(_forged(info), audience="https://compute.googleapis.com/")
    assert gtr.AuthorizedSession(forged).get(_compute_url(emulator), timeout=10).status_code == 401
    assert emulator.tokens_issued == 0


def test_key_file_shape(emulator):
    info = emulator.make_service_account("x@p.iam.gserviceaccount.com", "p")
    assert info["type"] == "service_account"
    assert info["token_uri"] == emulator.url + "/token"
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert json.loads(json.dumps(info)) == info


def test_metadata_project_paths(emulator):
    emulator.metadata_project = "mdproj"
    flavor = {"Metadata-Flavor": "Google"}
    root = emulator.url + "/computeMetadata/v1/"
    assert requests.get(root + "project/project-id", headers=flavor, timeout=10).text == "mdproj"
    number = requests.get(root + "project/numeric-project-id", headers=flavor, timeout=10).text
    assert number.isdigit() and len(number) == 12
    zone = requests.get(root + "instance/zone", headers=flavor, timeout=10).text
    assert zone == f"projects/{number}/zones/us-central1-a"
    ping = requests.get(emulator.url + "/", timeout=10)
    assert ping.headers["Metadata-Flavor"] == "Google"
    # reading metadata creates no Compute project
    emulator.add_access_token("t")
    listing = requests.get(
        emulator.url + "/compute/v1/projects/mdproj/zones", headers={"Authorization": "Bearer t"}, timeout=10
    )
    assert listing.status_code == 404
