"""Caption import/export formats and the `import` / `export` / `inspect` commands' library side.

- ``records``: per-record validation (UTF-8, NUL, empty, language, ids) and the ImportSink that keeps the counts;
- ``multi30k``, ``nrccr``, ``tabular`` (jsonl/tsv/parquet): readers that feed an ImportSink;
- ``importer``: ``ImportConfig`` + ``run_import`` (shards + rejects + ``_manifest.json``);
- ``export``: ``ExportConfig`` + ``run_export`` (NRCCR TextData files, JSONL);
- ``inspect``: what a shard directory holds, as rich tables.
"""
