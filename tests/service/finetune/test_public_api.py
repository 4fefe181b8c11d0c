"""Pins the public surface of ``service.finetune`` and ``service.files``."""

import service.files as files
import service.finetune as finetune


def test_all() -> None:
    assert sorted(finetune.__all__) == [
        "Adapter",
        "AdapterModels",
        "FineTuningService",
        "FitResult",
        "JobRunner",
        "JobStore",
        "TrainingData",
        "UpstreamJobs",
        "fit",
        "is_embedding_model",
    ]
    assert sorted(files.__all__) == [
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
