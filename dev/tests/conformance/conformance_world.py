"""What the conformance suite's world holds (names, payloads, tokens), shared by its fixtures and tests."""

CLOUD = "https://www.googleapis.com/auth/cloud-platform"
COMPUTE_RO = "https://www.googleapis.com/auth/compute.readonly"
SQL = "https://www.googleapis.com/auth/sqlservice.admin"
STORAGE_RO = "https://www.googleapis.com/auth/devstorage.read_only"

PROJECT = "conf-p1"
DEPLOYER = f"deployer@{PROJECT}.iam.gserviceaccount.com"
ZONES = ["us-central1-a", "europe-west4-b"]
SECRET = b"s3cret-\x00-bytes"
OBJECT = b"engine release tarball bytes"
# the service path under which each API lives on the emulator (as under https://<api>.googleapis.com/)
SERVICE_PATHS = {
    "compute": "/compute/v1/",
    "sqladmin": "/",
    "secretmanager": "/",
    "storage": "/storage/v1/",
    "iamcredentials": "/",
}
TOKENS = {"cloud": [CLOUD], "compute-ro": [COMPUTE_RO], "sql": [SQL], "storage-ro": [STORAGE_RO]}
