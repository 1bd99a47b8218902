"""The local content store and OCI image layouts."""

from hoist.store.blobs import BlobDigestMismatch, BlobDir, BlobError, Ingest
from hoist.store.layout import OciLayout
from hoist.store.store import (
    ContentStore,
    GcReport,
    ImageRecord,
    StoreError,
    VerifyReport,
    default_store_root,
)

__all__ = ["BlobDigestMismatch", "BlobDir", "BlobError", "ContentStore", "GcReport",
           "ImageRecord", "Ingest", "OciLayout", "StoreError", "VerifyReport",
           "default_store_root"]
