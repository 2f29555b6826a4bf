"""Cloud Storage uploads with generation preconditions, judged by Google's own discovery client.

google-cloud-storage is not a project dependency, so googleapiclient (built from the pinned storage.v1
discovery document) drives the emulator over real HTTP: objects.insert as a media upload with
ifGenerationMatch, then objects.get. What Cloud Storage does is the bar: a write whose precondition
does not hold is refused with 412 and changes nothing; ``ifGenerationMatch=0`` means "only if no live
object exists"; a missing bucket is a 404.
"""

import io
import json
import threading

import pytest
import requests
from google.oauth2.credentials import Credentials
from googleapiclient import discovery
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload

READ_ONLY = "https://www.googleapis.com/auth/devstorage.read_only"
READ_WRITE = "https://www.googleapis.com/auth/devstorage.read_write"
BUCKET = "nz-witness"
NAME = "fence/active-region.json"


def client(emulator, holder):
    return discovery.build("storage", "v1", credentials=Credentials(holder), static_discovery=True,
                           cache_discovery=False, client_options={"api_endpoint": emulator.url + "/storage/v1/"})


@pytest.fixture
def storage(emulator):
    emulator.add_access_token("writer-credential", scopes=[READ_WRITE])
    emulator.add_access_token("reader-credential", scopes=[READ_ONLY])
    requests.post(f"{emulator.url}/_emulator/storage/buckets", json={"name": BUCKET}, timeout=5).raise_for_status()
    return emulator


def upload(request):
    """Send an upload request built by googleapiclient to the emulator.

    googleapiclient moves the media path onto the overridden endpoint's host but keeps https; the
    emulator serves plain HTTP on 127.0.0.1, so only the scheme is put back.
    """
    request.uri = request.uri.replace("https://", "http://", 1)
    return request.execute()


def insert(service, data, bucket=BUCKET, **precondition):
    media = MediaIoBaseUpload(io.BytesIO(json.dumps(data).encode()), mimetype="application/json", resumable=False)
    return upload(service.objects().insert(bucket=bucket, name=NAME, media_body=media, **precondition))


def read(service):
    meta = service.objects().get(bucket=BUCKET, object=NAME).execute()
    body = service.objects().get_media(bucket=BUCKET, object=NAME).execute()
    return meta, json.loads(body)


def test_generation_precondition_lets_one_writer_win(storage):
    writer = client(storage, "writer-credential")
    first = insert(writer, {"region": "us-east4", "epoch": 1}, ifGenerationMatch=0)
    assert first["name"] == NAME and first["generation"].isdigit() and first["contentType"] == "application/json"
    # a second "create only" write finds an object: 412, nothing changed
    with pytest.raises(HttpError) as refused:
        insert(writer, {"region": "europe-west3", "epoch": 1}, ifGenerationMatch=0)
    assert refused.value.resp.status == 412 and refused.value.reason.startswith("At least one of the pre-conditions")
    # two operators read the same generation; the first write wins, the second is refused
    second = insert(writer, {"region": "europe-west3", "epoch": 2}, ifGenerationMatch=first["generation"])
    assert int(second["generation"]) > int(first["generation"])
    with pytest.raises(HttpError) as lost:
        insert(writer, {"region": "us-east4", "epoch": 2}, ifGenerationMatch=first["generation"])
    assert lost.value.resp.status == 412
    meta, body = read(client(storage, "reader-credential"))
    assert body == {"region": "europe-west3", "epoch": 2} and meta["generation"] == second["generation"]
    # reads honour the precondition too
    with pytest.raises(HttpError) as stale:
        client(storage, "reader-credential").objects().get(bucket=BUCKET, object=NAME,
                                                           ifGenerationMatch=first["generation"]).execute()
    assert stale.value.resp.status == 412


def test_concurrent_writers_of_one_generation_exactly_one_wins(storage):
    seed = insert(client(storage, "writer-credential"), {"epoch": 1}, ifGenerationMatch=0)
    outcomes = []

    def write(n):
        try:
            insert(client(storage, "writer-credential"), {"epoch": 2, "writer": n},
                   ifGenerationMatch=seed["generation"])
            outcomes.append(("won", n))
        except HttpError as exc:
            outcomes.append((exc.resp.status, n))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for result, n in outcomes if result == "won"]
    assert len(winners) == 1 and sorted(r for r, _ in outcomes if r != "won") == [412] * 7
    assert read(client(storage, "reader-credential"))[1] == {"epoch": 2, "writer": winners[0]}


def test_refusals(storage):
    # a read-only token cannot write
    with pytest.raises(HttpError) as scope:
        insert(client(storage, "reader-credential"), {"epoch": 1})
    assert scope.value.resp.status == 403
    # no such bucket: 404, as Cloud Storage answers (the bucket is the operator's to create)
    with pytest.raises(HttpError) as missing:
        insert(client(storage, "writer-credential"), {"epoch": 1}, bucket="nz-nowhere")
    assert missing.value.resp.status == 404
    # a precondition on an object that does not exist yet cannot hold (only 0 can)
    with pytest.raises(HttpError) as absent:
        insert(client(storage, "writer-credential"), {"epoch": 1}, ifGenerationMatch="5")
    assert absent.value.resp.status == 412
    with pytest.raises(HttpError):
        client(storage, "reader-credential").objects().get(bucket=BUCKET, object=NAME).execute()
