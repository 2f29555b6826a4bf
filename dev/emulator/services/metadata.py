"""The GCE metadata server, as far as google-auth uses it.

google-auth reaches it through ``GCE_METADATA_HOST``/``GCE_METADATA_IP``: it pings ``/``
(and checks the ``Metadata-Flavor: Google`` response header), reads
``instance/service-accounts/default/?recursive=true`` and ``project/project-id``, and
fetches tokens from ``instance/service-accounts/default/token``. Like the real server,
every ``/computeMetadata`` request must carry ``Metadata-Flavor: Google``.
"""

from __future__ import annotations

from ..errors import ApiError
from ..server import Response
from ..store import project_number

ROOT = "/computeMetadata/v1"
_FLAVOR = {"Metadata-Flavor": "Google"}


def _text(value: str, status: int = 200) -> Response:
    return Response(status, value, dict(_FLAVOR), "application/text")


def _json(value) -> Response:
    return Response(200, value, dict(_FLAVOR), "application/json")


def register(router, emulator):
    """Serve the metadata paths under ``/computeMetadata/v1``."""

    def guarded(handler):
        def wrapper(call):
            if (call.request.headers.get("metadata-flavor") or "").lower() != "google":
                return Response(403, "Missing required header: Metadata-Flavor\n", dict(_FLAVOR), "text/html")
            return handler(call)

        return wrapper

    def account_email(call) -> str:
        account = call.params.get("account", "default")
        emu = call.emulator
        if account not in ("default", emu.metadata_email):
            raise ApiError(404, f"service account {account} is not attached to this instance", "notFound")
        return emu.metadata_email

    def ping(call):
        return _text("computeMetadata/\n")

    def listing(call):
        return _text("instance/\nproject/\n")

    def project_id(call):
        return _text(call.emulator.metadata_project)

    def numeric_project_id(call):
        return _text(str(project_number(call.emulator.metadata_project)))

    def universe(call):
        return _text("googleapis.com")

    def accounts(call):
        return _text(f"default/\n{call.emulator.metadata_email}/\n")

    def account(call):
        email = account_email(call)
        info = {"aliases": ["default"], "email": email, "scopes": call.emulator.metadata_scopes}
        if call.arg("recursive", "").lower() == "true":
            return _json(info)
        return _text("aliases\nemail\nidentity\nscopes\ntoken\n")

    def email(call):
        return _text(account_email(call))

    def scopes(call):
        account_email(call)
        return _text("\n".join(call.emulator.metadata_scopes) + "\n")

    def token(call):
        principal = account_email(call)
        emu = call.emulator
        # Compute Engine ignores ?scopes= (google-auth sends it): a VM's token carries the VM's
        # access scopes, so a client can never widen them by asking
        issued = emu.auth.issue(principal, emu.metadata_scopes, "metadata")
        return _json({"access_token": issued.value, "expires_in": emu.auth.token_ttl, "token_type": "Bearer"})

    def zone(call):
        return _text(f"projects/{project_number(call.emulator.metadata_project)}/zones/us-central1-a")

    account_path = ROOT + r"/instance/service-accounts/(?P<account>[^/]+)"
    add = router.add
    add("GET", r"/", ping, kind="metadata.ping", auth=False, google=False)
    add("GET", ROOT + r"/?", guarded(listing), kind="metadata.get", auth=False, google=False)
    add("GET", ROOT + r"/project/project-id", guarded(project_id), kind="metadata.get", auth=False, google=False)
    add(
        "GET",
        ROOT + r"/project/numeric-project-id",
        guarded(numeric_project_id),
        kind="metadata.get",
        auth=False,
        google=False,
    )
    add("GET", ROOT + r"/universe/universe-domain", guarded(universe), kind="metadata.get", auth=False, google=False)
    add("GET", ROOT + r"/instance/zone", guarded(zone), kind="metadata.get", auth=False, google=False)
    add("GET", ROOT + r"/instance/service-accounts/?", guarded(accounts), kind="metadata.get", auth=False, google=False)
    add("GET", account_path + r"/?", guarded(account), kind="metadata.get", auth=False, google=False)
    add("GET", account_path + r"/email", guarded(email), kind="metadata.get", auth=False, google=False)
    add("GET", account_path + r"/scopes", guarded(scopes), kind="metadata.get", auth=False, google=False)
    add("GET", account_path + r"/token", guarded(token), kind="metadata.token", auth=False, google=False)
