"""diception_spec: the project's shared vocabulary, in one small torch-free package. Read this first.

Every part of the project — the model (``diception_core``), the evaluation, the leaderboard and the app — imports
its definitions from here and restates none of them (``tests/diception_spec/test_single_definitions.py`` fails when
a module copies a set of these ids). The human-readable source these modules implement is
``../shared/reference/IDS.md`` (ids), ``PROTOCOLS.md`` (protocols), ``ADAPTER_FORMAT.md`` (adapters).

- ``tasks``: the six tasks (``Task``), their labels, prompts and output encodings; COCO categories; ``MAX_POINTS``.
- ``metrics``: metric ids with units, directions and column headers; each task's main metric.
- ``scoring``: the rules every part computes alike: mask IoU, depth alignment, AbsRel, angular error (numpy).
- ``protocols``: evaluation protocols (what each is, which tasks, ranked or not); ``stable_seed``.
- ``benchmarks``: benchmark specs and their registry (SA-23, depth, normals, COCO, the smoke benchmark), tiers,
  column order, which ids are ranked, the size a prediction file must have.
- ``normals``: normal-map frames (one vocabulary, aliases accepted) and the conversion between them.
- ``models``: model kinds (which predictor ran), model types, provenances.
- ``adapter_format``: the adapter folder's files and limits, SD3-medium's shapes, the ``diception_task.json`` parser,
  the content hash that identifies an adapter.
- ``prediction_files``: the layout of prediction-file submissions.
- ``results``: the result JSON schema, its one version, ``validate_result`` and ``comparable``; the bounds of a run's
  thumbnails.
- ``errors`` (``Refused``: the input is at fault) and ``json_input`` (the strict reader of JSON users write).
- ``registry``: the small registry class behind metrics and benchmarks; ``environment``: the one parser of settings
  read from environment variables.

Importing any of it pulls in neither torch nor numpy (numpy is imported inside the functions that compute).
"""
