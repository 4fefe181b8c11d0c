import index


def test_public_names_change_only_on_purpose() -> None:
    assert sorted(index.__all__) == [
        "Collection",
        "CollectionExistsError",
        "CollectionInfo",
        "CollectionNotFoundError",
        "Compacted",
        "CorpusStats",
        "DEFAULT_ALPHA",
        "FanOut",
        "FilterError",
        "Hit",
        "HnswParams",
        "IndexStoreError",
        "InvalidArgumentError",
        "LexicalQuery",
        "LexicalSettings",
        "MAX_ID_LENGTH",
        "MAX_PASSAGES",
        "Metadata",
        "Page",
        "PassageHit",
        "PassageSettings",
        "Passages",
        "QueryWords",
        "Record",
        "SearchDefaults",
        "ShardCandidates",
        "ShardedReader",
        "Store",
        "StoreClosedError",
        "StoreLockedError",
        "check_ids",
        "check_metadata",
        "check_vectors",
        "lexical_languages",
        "merge_hybrid",
        "merge_pages",
        "merge_ranked",
        "shard_of",
    ]


def test_every_error_derives_from_the_package_base() -> None:
    for name in index.__all__:
        obj = getattr(index, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, index.IndexStoreError), name
