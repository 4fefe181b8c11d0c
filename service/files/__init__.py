"""The Files API's storage: uploads streamed to the data dir, metadata in SQLite."""

from service.files.schemas import DeleteFileResponse, ListFilesResponse, OpenAIFile
from service.files.store import FileStore
from service.files.upload import Upload, receive_upload
from service.files.validation import LineError, iter_examples, validate_fine_tune_file

__all__ = [
    "DeleteFileResponse",
    "FileStore",
    "LineError",
    "ListFilesResponse",
    "OpenAIFile",
    "Upload",
    "iter_examples",
    "receive_upload",
    "validate_fine_tune_file",
]
